"""Run with a pachyderm-sdk venv's python: the README's python-pachyderm flow (repo, put, create
pipeline, wait, jobs, datums, logs) through pachyderm-sdk, plus the 2.8+ calls jupyterlab-pachyderm
makes (CreateDatum batches, CreatePipelineV2, a paginated ListFile). Prints one JSON line."""

import json
import sys

from pachyderm_sdk import Client
from pachyderm_sdk.api import pfs, pps

port, tag = int(sys.argv[1]), sys.argv[2]
c = Client(host="localhost", port=port)
out: dict = {}
repo = pfs.Repo(name=f"in{tag}")
c.pfs.create_repo(repo=repo)
with c.pfs.commit(branch=pfs.Branch(repo=repo, name="master")) as commit:
    for i in range(5):
        commit.put_file_from_bytes(path=f"/d/f{i}.txt", data=b"x%d" % i)
head = c.pfs.inspect_commit(commit=pfs.Commit.from_uri(f"in{tag}@master"))
out["head_finished"] = head.finished.isoformat()
page = c.pfs.list_file(
    file=pfs.File.from_uri(f"in{tag}@master:/d"),
    pagination_marker=pfs.File.from_uri(f"in{tag}@master:/d/f1.txt"),
    number=2,
)
out["page"] = [f.file.path for f in page]
batches = c.pps.generate_datums(
    input_spec=pps.Input(pfs=pps.PfsInput(repo=f"in{tag}", glob="/d/*")), batch_size=2
)
first = next(batches)
out["batches"] = [len(first), len(batches.send(2)), len(next(batches))]
out["datum_committed"] = first[0].data[0].committed.isoformat()
out["datum_paths"] = [d.data[0].file.path for d in first]
spec = {
    "pipeline": {"name": f"copy{tag}"},
    "transform": {"cmd": ["sh", "-c", f"echo copying; cp -r /pfs/in{tag}/d /pfs/out/"]},
    "input": {"pfs": {"repo": f"in{tag}", "glob": "/"}},
}
dry = c.pps.create_pipeline_v2(create_pipeline_request_json=json.dumps(spec), dry_run=True)
out["dry_run_effective"] = json.loads(dry.effective_create_pipeline_request_json)
out["repos_after_dry_run"] = sorted(r.repo.name for r in c.pfs.list_repo())
c.pps.create_pipeline_v2(create_pipeline_request_json=json.dumps(spec))
c.pfs.wait_commit(pfs.Commit.from_uri(f"copy{tag}@master"))
jobs = list(c.pps.list_job(pipeline=pps.Pipeline(name=f"copy{tag}")))
job = c.pps.inspect_job(job=jobs[0].job, wait=True)
out["job_state"] = pps.JobState(job.state).name
out["datum_states"] = [pps.DatumState(d.state).name for d in c.pps.list_datum(job=jobs[0].job)]
out["logs"] = [m.message for m in c.pps.get_logs(pipeline=pps.Pipeline(name=f"copy{tag}"))]
out["output"] = c.pfs.pfs_file(pfs.File.from_uri(f"copy{tag}@master:/d/f3.txt")).read().decode()
# a classic CreatePipeline through the sdk, too
c.pps.create_pipeline(
    pipeline=pps.Pipeline(name=f"up{tag}"),
    transform=pps.Transform(cmd=["sh", "-c", f"tr a-z A-Z < /pfs/in{tag}/d/f0.txt > /pfs/out/u.txt"]),
    input=pps.Input(pfs=pps.PfsInput(repo=f"in{tag}", glob="/")),
)
c.pfs.wait_commit(pfs.Commit.from_uri(f"up{tag}@master"))
out["upper"] = c.pfs.pfs_file(pfs.File.from_uri(f"up{tag}@master:/u.txt")).read().decode()
print(json.dumps(out))
