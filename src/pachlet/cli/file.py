"""File commands: ``put|get|list|inspect|glob|delete|copy|diff file``."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import click

from pachlet import tables
from pachlet.cli.output import emit_json, output_option, run_jobs, wait_option, want_json
from pachlet.cli.refs import RefError, parse_ref, resolve_ref
from pachlet.cli.session import open_backend
from pachlet.cli.verbs import copy, delete, diff, get, glob, inspect, list_, put
from pachlet.errors import PachletError
from pachlet.names import COMMIT_ID_RE
from pachlet.pfs.urls import is_url


def _target_path(path: str, source: str, many: bool) -> str:
    """Where ``-f source`` lands: the given path, ``path/basename`` for a directory path (or several
    sources), ``/basename`` without a path (pachctl's rule)."""
    name = "" if source == "-" else Path(source.rstrip("/")).name
    if not path:
        if not name:
            raise RefError("put file -f -: a path is required when reading stdin (repo@branch:/path)")
        return "/" + name
    if (path.endswith("/") or many) and name:
        return path.rstrip("/") + "/" + name
    return path


@put.command("file")
@click.argument("file_ref", metavar="REPO@BRANCH[:/PATH]")
@click.option(
    "-f",
    "--file",
    "files",
    multiple=True,
    required=True,
    help="Local file or directory, a URL (http(s)://, file://); - is stdin.",
)
@click.option("-r", "--recursive", is_flag=True, help="Put directories recursively.")
@click.option("-a", "--append", is_flag=True, help="Append to the file instead of overwriting it.")
@wait_option
@click.pass_context
def put_file(
    ctx: click.Context, file_ref: str, files: tuple[str, ...], recursive: bool, append: bool, no_wait: bool
) -> None:
    """Put a file (or, with -r, a directory) into a repo, in one commit."""
    ref = parse_ref(file_ref, require_ref=True)
    many = len(files) > 1
    plan: list[tuple[str, str]] = []
    for src in files:
        if is_url(src):
            plan.append((src, _target_path(ref.path, urllib.parse.urlparse(src).path or src, many)))
            continue
        if src != "-":
            sp = Path(src)
            if not sp.exists():
                raise PachletError(f"put file -f {src}: no such file or directory")
            if sp.is_dir() and not recursive:
                raise PachletError(f"put file -f {src}: is a directory (use -r)")
        plan.append((src, _target_path(ref.path, src, many)))
    with open_backend(ctx, write=True) as b:
        target = resolve_ref(b, ref)
        commit_id = None
        if many and not COMMIT_ID_RE.match(target):
            commit_id = b.start_commit(ref.repo, target, "").commit.id
        try:
            for src, path in plan:
                dest = commit_id or target
                if is_url(src):  # pachctl's putFileHelper: a source with a scheme is put from its URL
                    b.put_url(ref.repo, dest, path, src, recursive, append)
                elif src == "-":
                    b.put_file(ref.repo, dest, path, sys.stdin.buffer.read(), append)
                elif Path(src).is_dir():
                    b.put_tree(ref.repo, dest, path, Path(src))
                else:
                    b.put_file(ref.repo, dest, path, Path(src), append)
        except BaseException:
            if commit_id is not None:
                b.abandon_commit(ref.repo, commit_id)
            raise
        if commit_id is not None:
            b.finish_commit(ref.repo, commit_id, None)
        run_jobs(b, no_wait)


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
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.file_table(infos), nl=False)


@inspect.command("file")
@click.argument("file_ref", metavar="REPO@REF:/PATH")
@output_option
@click.pass_context
def inspect_file(ctx: click.Context, file_ref: str, output: str, raw: bool, full_timestamps: bool) -> None:
    """Return info about a file."""
    ref = parse_ref(file_ref, require_ref=True)
    with open_backend(ctx, write=False) as b:
        info = b.inspect_file(ref.repo, resolve_ref(b, ref), ref.path or "/")
    if want_json(output, raw):
        emit_json([info])
        return
    from python_pachyderm.proto.v2.pfs import pfs_pb2

    kind = "dir" if info.file_type == pfs_pb2.DIR else "file"
    click.echo(f"Path: {info.file.path}\nType: {kind}\nSize: {tables.bytes_size(info.size_bytes)}")
    if info.hash:
        click.echo(f"Hash: {info.hash.hex()}")


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
    if want_json(output, raw):
        emit_json(infos)
    else:
        click.echo(tables.file_table(infos), nl=False)


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
