"""File commands: ``put|get|list|inspect|glob|delete|copy|diff file``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pachlet import tables
from pachlet.cli import details, putfile
from pachlet.cli.output import emit, output_option, run_jobs, wait_option
from pachlet.cli.refs import RefError, parse_ref, resolve_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import copy, delete, diff, get, glob, inspect, list_, put
from pachlet.errors import PachletError
from pachlet.names import COMMIT_ID_RE

if TYPE_CHECKING:
    from pachlet.cli.backend import Backend


@put.command("file")
@click.argument("file_ref", metavar="REPO@BRANCH_OR_COMMIT[:/PATH]")
@click.option("-f", "--file", "files", multiple=True, help="Local file or directory; - is stdin (default).")
@click.option("-i", "--input-file", default="", help="A file listing sources, one per line; - is stdin.")
@click.option("-r", "--recursive", is_flag=True, help="Put directories recursively.")
@click.option("-a", "--append", is_flag=True, help="Append to the file instead of overwriting it.")
@click.option("--untar", is_flag=True, help="Put the entries of .tar/.tar.gz/.tgz sources at their names.")
@click.option("--full-path", is_flag=True, help="Name the target by the source's whole path, not its base.")
@click.option("-p", "--parallelism", type=int, default=10, help="Accepted for pachctl (writes are serial).")
@click.option("--compress", is_flag=True, help="Accepted for pachctl (nothing crosses a network locally).")
@click.option("--progress", is_flag=True, help="Accepted for pachctl.")
@wait_option
@click.pass_context
def put_file(
    ctx: click.Context,
    file_ref: str,
    files: tuple[str, ...],
    input_file: str,
    recursive: bool,
    append: bool,
    untar: bool,
    full_path: bool,
    parallelism: int,
    compress: bool,
    progress: bool,
    no_wait: bool,
) -> None:
    """Put files (or, with -r, directories) into a repo, in one commit, named as pachctl names them."""
    ref = parse_ref(file_ref, require_ref=True)
    if input_file:
        sources = putfile.read_input_file(input_file, sys.stdin.buffer)
    else:
        sources = putfile.split_sources(files) or [putfile.STDIN]
    with open_backend(ctx, write=True) as b:
        b.inspect_repo(ref.repo)  # pachctl checks the repo before it looks at the sources
        ops = putfile.plan(ref.path, sources, recursive=recursive, untar=untar, full_path=full_path)
        _apply(b, ref.repo, resolve_ref(b, ref), ops, append)
        run_jobs(b, no_wait)


def _apply(b: Backend, repo: str, target: str, ops: list[putfile.PutOp], append: bool) -> None:
    """Write ``ops`` into one commit: the open commit ``target`` names, else a new commit on the branch
    (finished at the end, dropped if a write fails), as pachctl's one ModifyFile stream does."""
    if not ops:
        return
    if len(ops) == 1 and ops[0].kind != "tar":
        _write(b, repo, target, ops[0], append)
        return
    commit_id, started = target, False
    if not COMMIT_ID_RE.match(target):
        try:
            head = b.inspect_commit(repo, target)
        except Exception:  # no head yet (NotFoundError here, NOT_FOUND from a pachd): start one below
            head = None
        if head is not None and not head.HasField("finished"):
            commit_id = head.commit.id
        else:
            commit_id, started = b.start_commit(repo, target, "").commit.id, True
    try:
        for op in ops:
            _write(b, repo, commit_id, op, append)
    except BaseException:
        if started:
            b.abandon_commit(repo, commit_id)
        raise
    if started:
        b.finish_commit(repo, commit_id, None)


def _write(b: Backend, repo: str, dest: str, op: putfile.PutOp, append: bool) -> None:
    if op.kind == "tar":
        for name, data in putfile.tar_entries(op.source):
            b.put_file(repo, dest, name, data, append)
    elif op.kind == "tree":
        if append:
            for f in sorted(p for p in Path(op.source).rglob("*") if p.is_file()):
                rel = f.relative_to(op.source).as_posix()
                b.put_file(repo, dest, putfile.clean(op.path.rstrip("/") + "/" + rel), f, True)
        else:
            b.put_tree(repo, dest, op.path, Path(op.source))
    elif op.kind in ("url", "url-tree"):
        b.put_url(repo, dest, op.path, op.source, op.kind == "url-tree", append)
    elif op.source == putfile.STDIN:
        b.put_file(repo, dest, op.path, sys.stdin.buffer.read(), append)
    else:
        b.put_file(repo, dest, op.path, Path(op.source), append)


@get.command("file")
@click.argument("file_ref", metavar="REPO@REF:/PATH")
@click.option("-o", "--output", "out", type=click.Path(path_type=Path), default=None, help="Write here.")
@click.pass_context
def get_file(ctx: click.Context, file_ref: str, out: Path | None) -> None:
    """Return the contents of a file (a directory needs -o DIR)."""
    ref = parse_ref(file_ref, require_ref=True)
    if not ref.path:
        raise RefError(f'invalid format "{file_ref}": expected repo@ref:/path')
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    with open_backend(ctx, write=False) as b:
        target = resolve_ref(b, ref)
        info = b.inspect_file(ref.repo, target, ref.path)
        if info.file_type == pfs_pb2.DIR:
            if out is None:
                raise PachletError(f"{file_ref} is a directory; pass -o DIR to download it")
            base = ref.path.rstrip("/")
            for f in b.walk_files(ref.repo, target, ref.path):
                dest = out / f.file.path[len(base) :].lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with open(dest, "wb") as fh:
                    b.copy_file_to(ref.repo, target, f.file.path, fh)
            return
        if out is None:
            b.copy_file_to(ref.repo, target, ref.path, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        else:
            if out.parent and not out.parent.exists():
                out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "wb") as fh:
                b.copy_file_to(ref.repo, target, ref.path, fh)


@list_.command("file")
@click.argument("file_ref", metavar="REPO@REF[:/PATH]")
@output_option
@click.pass_context
def list_file(ctx: click.Context, file_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return the files in a directory."""
    ref = parse_ref(file_ref, require_ref=True)
    with open_backend(ctx, write=False) as b:
        infos = b.list_files(ref.repo, resolve_ref(b, ref), ref.path or "/")
    emit(infos, output, raw, lambda: tables.file_table(infos))


@inspect.command("file")
@click.argument("file_ref", metavar="REPO@REF:/PATH")
@output_option
@click.pass_context
def inspect_file(ctx: click.Context, file_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a file."""
    ref = parse_ref(file_ref, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_file(ref.repo, resolve_ref(b, ref), ref.path or "/")
    emit([info], output, raw, lambda: details.file_details(info))


@glob.command("file")
@click.argument("pattern_ref", metavar="REPO@REF:PATTERN")
@output_option
@click.pass_context
def glob_file(ctx: click.Context, pattern_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return the files matching a glob pattern."""
    ref = parse_ref(pattern_ref, require_ref=True)
    if not ref.path:
        raise RefError(f'invalid format "{pattern_ref}": expected repo@ref:PATTERN')
    with open_backend(ctx, write=False) as b:
        infos = b.glob_files(ref.repo, resolve_ref(b, ref), ref.path)
    emit(infos, output, raw, lambda: tables.file_table(infos))


@delete.command("file")
@click.argument("file_ref", metavar="REPO@BRANCH:/PATH")
@wait_option
@click.pass_context
def delete_file(ctx: click.Context, file_ref: str, no_wait: bool) -> None:
    """Delete a file or directory (in a new commit on the branch)."""
    ref = parse_ref(file_ref, require_ref=True)
    if not ref.path:
        raise RefError(f'invalid format "{file_ref}": expected repo@branch:/path')
    with open_backend(ctx, write=True) as b:
        b.delete_file(ref.repo, resolve_ref(b, ref), ref.path)
        run_jobs(b, no_wait)


def _file_arg(arg: str) -> tuple[str, str, str]:
    ref = parse_ref(arg, require_ref=True)
    return ref.repo, ref.ref, ref.path or "/"


@copy.command("file")
@click.argument("src_ref", metavar="SRC_REPO@SRC_REF:SRC_PATH")
@click.argument("dst_ref", metavar="DST_REPO@DST_REF:DST_PATH")
@click.option("-a", "--append", is_flag=True, help="Append to the existing content of the file.")
@wait_option
@click.pass_context
def copy_file(ctx: click.Context, src_ref: str, dst_ref: str, append: bool, no_wait: bool) -> None:
    """Copy a file or directory between PFS paths (a branch destination gets one new commit)."""
    with open_backend(ctx, write=True) as b:
        src = _file_arg(src_ref)
        dref = parse_ref(dst_ref, require_ref=True)
        if not dref.path:
            raise RefError(f'invalid format "{dst_ref}": expected repo@ref:/path')
        b.copy_file(
            (src[0], resolve_ref(b, parse_ref(src_ref, require_ref=True)), src[2]),
            (dref.repo, resolve_ref(b, dref), dref.path),
            append,
        )
        run_jobs(b, no_wait)


def _diff_command(arg: str) -> list[str]:
    """pachctl's ``diffCommand``: ``--diff-command``, else git's no-index diff, else ``diff``."""
    if arg:
        return arg.split()
    if shutil.which("git"):
        return ["git", "-c", "color.ui=always", "--no-pager", "diff", "--no-index"]
    return ["diff"]


@diff.command("file")
@click.argument("new_ref", metavar="NEW_REPO@NEW_REF:NEW_PATH")
@click.argument("old_ref", required=False, metavar="[OLD_REPO@OLD_REF:OLD_PATH]")
@click.option("-s", "--shallow", is_flag=True, help="Accepted; as in pachd 2.7.6 it changes nothing.")
@click.option("--name-only", is_flag=True, help="Only the names of changed files (OP NAME TYPE SIZE).")
@click.option("--diff-command", default="", help="A program other than git diff to diff files with.")
@click.pass_context
def diff_file(
    ctx: click.Context, new_ref: str, old_ref: str | None, shallow: bool, name_only: bool, diff_command: str
) -> None:
    """Diff two file trees: the new path against the old one (default: the new commit's parent)."""
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    with open_backend(ctx, write=False) as b:
        nref = parse_ref(new_ref, require_ref=True)
        new = (nref.repo, resolve_ref(b, nref), nref.path or "/")
        old = None
        if old_ref:
            oref = parse_ref(old_ref, require_ref=True)
            old = (oref.repo, resolve_ref(b, oref), oref.path or "/")
        pairs = b.diff_files(new, old)
        if name_only:
            rows = []
            for n, o in pairs:
                for op, fi in (("+", n), ("-", o)):
                    if fi is not None:
                        kind = "dir" if fi.file_type == pfs_pb2.DIR else "file"
                        rows.append((op, fi.file.path, kind, tables.bytes_size(fi.size_bytes)))
            click.echo(tables.render_table(("OP", *tables.FILE_HEADER), rows), nl=False)
            return
        cmd = _diff_command(diff_command)
        with tempfile.TemporaryDirectory(prefix="pachlet-diff-") as tmp:
            for i, (n, o) in enumerate(pairs):
                paths = []
                for side, fi in (("old", o), ("new", n)):
                    if fi is None or fi.file_type != pfs_pb2.FILE:
                        paths.append("/dev/null")
                        continue
                    dest = Path(tmp) / f"{i}-{side}"
                    with open(dest, "wb") as fh:
                        b.copy_file_to(fi.file.commit.repo.name, fi.file.commit.id, fi.file.path, fh)
                    paths.append(str(dest))
                if paths == ["/dev/null", "/dev/null"]:
                    continue
                proc = subprocess.run([*cmd, *paths], check=False, capture_output=True)  # noqa: S603
                click.echo(proc.stdout, nl=False)
                if proc.returncode not in (0, 1):  # diff exits 1 when the files differ
                    raise PachletError(
                        f"{' '.join(cmd)} exited with {proc.returncode}: {proc.stderr.decode().strip()}"
                    )
