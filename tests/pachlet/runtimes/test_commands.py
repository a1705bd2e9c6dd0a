"""The runtimes' command lines and the runtime choice, without bubblewrap or any container engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pachlet.errors import PachletError
from pachlet.runtimes import (
    ContainerRuntime,
    DatumView,
    HostRuntime,
    RuntimeSettings,
    SandboxRuntime,
    WorkerCommand,
    load_settings,
    needs_network,
    save_settings,
)
from pachlet.runtimes.config import chosen_name, make_runtime
from pachlet.runtimes.sandbox import root_args, sandbox_env

SECRET = "s3cr3t-value"


def command(transform: dict[str, Any] | None = None, **kw: Any) -> WorkerCommand:
    t = {"cmd": ["python3", "/code/run.py", "/pfs/data"], "image": "churn-pachlet:dev", **(transform or {})}
    return WorkerCommand(
        cmd=t["cmd"],
        stdin=kw.pop("stdin", None),
        env={"data": "/pfs/data/a.csv", "PACH_JOB_ID": "j1", "PASSWORD": SECRET, **kw.pop("env", {})},
        transform=t,
        pipeline="p",
        **kw,
    )


@pytest.fixture
def view(tmp_path: Path) -> DatumView:
    return DatumView(root=tmp_path, inputs=("data", "model"), secret_dirs={"/etc/creds": tmp_path / "s"})


def pairs(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_container_mounts_inputs_read_only_and_never_U(view: DatumView) -> None:
    argv = ContainerRuntime("podman", host_env={}).launch(view, command()).argv
    vols = pairs(argv, "-v")
    assert f"{view.pfs}/data:/pfs/data:ro" in vols and f"{view.pfs}/model:/pfs/model:ro" in vols
    assert f"{view.out}:/pfs/out" in vols
    assert f"{view.root}/s:/etc/creds:ro" in vols
    assert not [v for v in vols if v.endswith(":U") or ",U" in v]
    assert argv[:3] == ["podman", "run", "--rm"] and "--pull=never" in argv
    launch = ContainerRuntime("podman", host_env={}).launch(view, command())
    name = launch.argv[launch.argv.index("--name") + 1]
    assert name.startswith("pachlet-") and launch.cleanup == ["podman", "rm", "-f", name]


def test_container_network_none_unless_needed(view: DatumView) -> None:
    rt = ContainerRuntime("docker", host_env={})
    assert pairs(rt.launch(view, command()).argv, "--network") == ["none"]
    assert "--network" not in rt.launch(view, command(needs_network=True)).argv


def test_container_env_names_only_values_in_engine_env(view: DatumView) -> None:
    rt = ContainerRuntime(
        "podman", env={"CHURN_WAREHOUSE_DIR": "/w"}, mounts=["/w"], host_env={"HOME": "/root", "LEAK": "x"}
    )
    launch = rt.launch(view, command())
    assert SECRET not in " ".join(launch.argv)
    names = pairs(launch.argv, "--env")
    assert sorted(names) == ["CHURN_WAREHOUSE_DIR", "PACH_JOB_ID", "PASSWORD", "data"]
    assert "LEAK" not in names and "HOME" not in names  # the engine's own environment is not the datum's
    assert launch.env["PASSWORD"] == SECRET and launch.env["HOME"] == "/root"
    assert "/w:/w" in pairs(launch.argv, "-v")


def test_container_user_workdir_entrypoint_and_stdin(view: DatumView) -> None:
    rt = ContainerRuntime("podman", host_env={})
    argv = rt.launch(view, command({"user": "10001", "workingDir": "/work"}, stdin=b"x\n")).argv
    assert pairs(argv, "--user") == ["10001"] and pairs(argv, "--workdir") == ["/work"] and "-i" in argv
    i = argv.index("churn-pachlet:dev")
    assert argv[i - 2 : i] == ["--entrypoint", "python3"] and argv[i + 1 :] == ["/code/run.py", "/pfs/data"]
    owner = ContainerRuntime("podman", host_env={}, user="1000:1000")
    assert pairs(owner.launch(view, command()).argv, "--user") == ["1000:1000"]
    assert pairs(owner.launch(view, command({"user": "10001"})).argv, "--user") == ["10001"]
    plain = rt.launch(view, command()).argv
    assert "--user" not in plain and "--workdir" not in plain and "-i" not in plain


def test_container_needs_an_image(view: DatumView) -> None:
    with pytest.raises(PachletError, match=r"pipeline p: .*transform\.image"):
        ContainerRuntime("podman", host_env={}).launch(view, command({"image": ""}))


def test_container_prepare_makes_out_writable_for_any_uid(view: DatumView) -> None:
    view.out.mkdir(parents=True)
    ContainerRuntime("podman", host_env={}).prepare(view, command())
    assert view.out.stat().st_mode & 0o777 == 0o777


def test_sandbox_command_line(view: DatumView) -> None:
    top = [("usr", None), ("bin", "usr/bin"), ("etc", None)]
    rt = SandboxRuntime(bwrap="/usr/bin/bwrap", mounts=["/w"], top=top, host_env={})
    launch = rt.launch(view, command())
    argv = launch.argv
    assert argv[0] == "/usr/bin/bwrap"
    assert argv[1 : 1 + len(root_args(top))] == root_args(top)
    assert argv[1:4] == ["--ro-bind", "/usr", "/usr"] and argv[4:7] == ["--symlink", "usr/bin", "/bin"]
    joined = " ".join(argv)
    assert (
        f"--ro-bind {view.pfs}/data /pfs/data" in joined
        and f"--ro-bind {view.pfs}/model /pfs/model" in joined
    )
    assert f"--bind {view.out} /pfs/out" in joined and "--bind /w /w" in joined
    # /etc/creds does not exist on the host: /etc is rebuilt as a tmpfs of read-only binds of its
    # entries, the mount point made in it, and the tmpfs made read-only again
    assert "--tmpfs /etc" in joined and "--ro-bind-try /etc/passwd /etc/passwd" in joined
    assert f"--dir /etc/creds --ro-bind {view.root}/s /etc/creds --remount-ro /etc" in joined
    assert "--unshare-user" in argv and "--die-with-parent" in argv
    assert argv[argv.index("--chdir") + 1] == "/"
    assert argv[argv.index("--") + 1 :] == ["python3", "/code/run.py", "/pfs/data"]  # literal /pfs
    assert SECRET not in joined and launch.env["PASSWORD"] == SECRET
    wd = rt.launch(view, command({"workingDir": "/pfs/data"})).argv
    assert wd[wd.index("--chdir") + 1] == "/pfs/data"


def test_sandbox_env_is_the_workers_plus_an_image_like_base() -> None:
    env = sandbox_env(
        {"data": "/pfs/data", "LANG": "en_US.UTF-8"},
        {"PYTHONPATH": "/src", "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "leak", "PATH": "/host"},
        {"CHURN_WAREHOUSE_DIR": "/w"},
    )
    assert set(env) == {"PATH", "HOME", "LANG", "PYTHONPATH", "CHURN_WAREHOUSE_DIR", "data"}
    assert env["HOME"] == "/tmp" and env["LANG"] == "en_US.UTF-8" and "/host" not in env["PATH"]


def test_host_rewrites_pfs_and_keeps_pachlets_env(view: DatumView) -> None:
    rt = HostRuntime(base_env={"HOME": "/root", "PATH": "/usr/bin"})
    launch = rt.launch(view, command({"workingDir": "/pfs/data"}, stdin=b"cat /pfs/data/x\n"))
    assert launch.argv == ["python3", "/code/run.py", f"{view.pfs}/data"]
    assert launch.env["data"] == f"{view.pfs}/data/a.csv" and launch.env["HOME"] == "/root"
    assert launch.cwd == f"{view.pfs}/data" and launch.stdin == f"cat {view.pfs}/data/x\n".encode()


def test_needs_network_rule() -> None:
    assert not needs_network({"pipeline": {"name": "clean"}, "transform": {"cmd": ["x"]}})
    assert needs_network({"pipeline": {"name": "ingest"}, "transform": {"secrets": [{"name": "s"}]}})
    assert needs_network({"pipeline": {"name": "x"}, "egress": {"URL": "s3://b/p"}})
    assert not needs_network({"pipeline": {"name": "x"}, "egress": {"sqlDatabase": {}}})  # pachlet runs it
    assert needs_network({"pipeline": {"name": "x"}}, frozenset({"x"}))


def test_choice_order_option_env_setting(tmp_path: Path) -> None:
    s = RuntimeSettings(runtime="container")
    assert chosen_name("host", s, {"PACHLET_RUNTIME": "sandbox"}) == "host"
    assert chosen_name(None, s, {"PACHLET_RUNTIME": "sandbox"}) == "sandbox"
    assert chosen_name(None, s, {}) == "container"
    assert chosen_name(None, RuntimeSettings(), {}) == "auto"
    with pytest.raises(PachletError, match="PACHLET_RUNTIME: unknown runtime 'vm'"):
        chosen_name(None, s, {"PACHLET_RUNTIME": "vm"})


def test_settings_round_trip_and_errors_name_the_field(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == RuntimeSettings()
    s = RuntimeSettings(runtime="sandbox", env={"A": "1"}, mounts=["/w"], network=["ingest"])
    save_settings(tmp_path, s)
    assert load_settings(tmp_path) == s
    (tmp_path / "runtime.json").write_text(json.dumps({"runtime": "vm"}))
    with pytest.raises(PachletError, match=r"runtime\.json: field 'runtime' is 'vm'"):
        load_settings(tmp_path)
    (tmp_path / "runtime.json").write_text(json.dumps({"mounts": ["rel/dir"]}))
    with pytest.raises(PachletError, match="field 'mounts' entry 'rel/dir' is not an absolute path"):
        load_settings(tmp_path)
    (tmp_path / "runtime.json").write_text(json.dumps({"runtimes": "host"}))
    with pytest.raises(PachletError, match="unknown field 'runtimes'"):
        load_settings(tmp_path)


def test_container_without_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(
        PachletError, match="runtime 'container' cannot run here: no podman or docker on PATH"
    ):
        make_runtime("container", RuntimeSettings())


def test_auto_falls_back_to_host_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pachlet.runtimes import config

    monkeypatch.setattr(config, "sandbox_problem", lambda: "bubblewrap (bwrap) is not installed")
    monkeypatch.setattr(config, "_warned", [])
    assert make_runtime("auto", RuntimeSettings()).name == "host"
    assert make_runtime("auto", RuntimeSettings()).name == "host"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "literal /pfs path inside a program's code will not resolve" in err
    with pytest.raises(PachletError, match="runtime 'sandbox' cannot run here: bubblewrap"):
        make_runtime("sandbox", RuntimeSettings())


def test_sandbox_names_a_command_missing_from_its_path(view: DatumView) -> None:
    rt = SandboxRuntime(top=[("usr", None)], host_env={})
    with pytest.raises(
        PachletError, match="could not start 'no-such-cmd-i15': not found on the sandbox's PATH"
    ):
        rt.launch(view, command({"cmd": ["no-such-cmd-i15"]}))
