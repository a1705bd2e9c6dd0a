"""The PPS service (``pps_v2.API``) over the pachlet facade: pipelines, cron, jobs, datums, logs, secrets.

Creating a pipeline or running cron only queues jobs; the scheduler thread runs them. Calls with
``wait`` poll the facade until the job reaches a terminal state.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
from google.protobuf import empty_pb2, json_format
from python_pachyderm.proto.v2.pps import pps_pb2, pps_pb2_grpc

from pachlet import protos
from pachlet import records as r
from pachlet.errors import NotFoundError, PachletError
from pachlet.secrets import load_manifest_text
from pachlet.server.datumfiles import stamp_committed
from pachlet.server.errors import RpcAbort, fill_unimplemented, rpc
from pachlet.server.refs import in_projects, project_object_name
from pachlet.server.state import ServerState

FOLLOW_POLL_SECONDS = 0.2
"""How often a followed log is read for new lines."""

# CreatePipelineRequest fields that are request options, not part of the pipeline spec.
_REQUEST_ONLY = ("update", "reprocess", "dryRun", "detailsJson", "specCommit")


def pipeline_name(pipeline: pps_pb2.Pipeline) -> str:
    """The pipeline's internal name (``project/name`` outside the default project)."""
    return project_object_name("pipeline", pipeline.project.name, pipeline.name)


def request_to_spec(request: pps_pb2.CreatePipelineRequest) -> dict[str, Any]:
    """A CreatePipelineRequest as a camelCase pipeline spec dict (what ``pachctl create pipeline -f``
    would have read), without the request options and the default project."""
    spec: dict[str, Any] = {}
    if request.details_json:
        spec.update(json.loads(request.details_json))
    spec.update(json_format.MessageToDict(request))
    for key in _REQUEST_ONLY:
        spec.pop(key, None)
    pipeline = dict(spec.get("pipeline") or {})
    if (pipeline.get("project") or {}).get("name") in (None, "", protos.DEFAULT_PROJECT):
        pipeline.pop("project", None)
    spec["pipeline"] = pipeline
    return spec


def _terminal(state: str) -> bool:
    return state in r.JOB_TERMINAL_STATES


@fill_unimplemented(pps_pb2_grpc.APIServicer, "pps_v2.API")
class PPSServicer(pps_pb2_grpc.APIServicer):
    """pps_v2.API for python-pachyderm 7.x."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.p = state.p

    # ---------------------------------------------------------------- pipelines
    @rpc
    def CreatePipeline(
        self, request: pps_pb2.CreatePipelineRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        spec = request_to_spec(request)
        name = pipeline_name(request.pipeline)
        if request.dry_run:
            from pachlet.spec import normalize_spec

            normalize_spec(spec, source=f"CreatePipeline {name}")
            return empty_pb2.Empty()
        with self.state.writing() as p:
            p.create_pipeline(
                spec, update=request.update, reprocess=request.reprocess, source=f"pipeline {name}"
            )
        return empty_pb2.Empty()

    def _pipeline_info(self, info: r.PipelineInfo) -> pps_pb2.PipelineInfo:
        return protos.pipeline_info(info)

    @rpc
    def InspectPipeline(
        self, request: pps_pb2.InspectPipelineRequest, context: grpc.ServicerContext
    ) -> pps_pb2.PipelineInfo:
        return self._pipeline_info(self.p.inspect_pipeline(pipeline_name(request.pipeline)))

    @rpc
    def ListPipeline(
        self, request: pps_pb2.ListPipelineRequest, context: grpc.ServicerContext
    ) -> Iterator[pps_pb2.PipelineInfo]:
        if request.jqFilter:
            raise RpcAbort(
                grpc.StatusCode.UNIMPLEMENTED, "pachlet serve does not implement ListPipeline jqFilter"
            )
        if request.pipeline.name:
            infos = [self.p.inspect_pipeline(pipeline_name(request.pipeline))]
        else:
            infos = self.p.list_pipelines()
        if request.projects:
            infos = [i for i in infos if in_projects(i.name, request.projects)]
        if request.HasField("commit_set") and request.commit_set.id:
            in_set = {j.pipeline for j in self.p.list_jobs(global_id=request.commit_set.id)}
            infos = [i for i in infos if i.name in in_set]
        for info in infos:
            yield self._pipeline_info(info)

    @rpc
    def DeletePipeline(
        self, request: pps_pb2.DeletePipelineRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        if request.all:
            self._delete_all(request.force, request.keep_repo)
            return empty_pb2.Empty()
        name = pipeline_name(request.pipeline)
        with self.state.writing(exclusive=True) as p:
            p.delete_pipeline(name, force=request.force, keep_repo=request.keep_repo)
        return empty_pb2.Empty()

    @rpc
    def DeleteAll(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> empty_pb2.Empty:
        self._delete_all(True, False)
        return empty_pb2.Empty()

    def _delete_all(self, force: bool, keep_repo: bool) -> None:
        with self.state.writing(exclusive=True) as p:
            for info in p.list_pipelines():  # newest first: downstream pipelines usually go first
                p.delete_pipeline(info.name, force=force, keep_repo=keep_repo)

    @rpc
    def RunCron(self, request: pps_pb2.RunCronRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        name = pipeline_name(request.pipeline)
        with self.state.writing() as p:
            p.run_cron(name)
        return empty_pb2.Empty()

    # ---------------------------------------------------------------- lifecycle
    @rpc
    def StopPipeline(
        self, request: pps_pb2.StopPipelineRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.stop_pipeline(pipeline_name(request.pipeline))
        return empty_pb2.Empty()

    @rpc
    def StartPipeline(
        self, request: pps_pb2.StartPipelineRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.start_pipeline(pipeline_name(request.pipeline))
        return empty_pb2.Empty()

    @rpc
    def StopJob(self, request: pps_pb2.StopJobRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.stop_job(pipeline_name(request.job.pipeline), request.job.id, request.reason)
        return empty_pb2.Empty()

    @rpc
    def DeleteJob(self, request: pps_pb2.DeleteJobRequest, context: grpc.ServicerContext) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.delete_job(pipeline_name(request.job.pipeline), request.job.id)
        return empty_pb2.Empty()

    @rpc
    def RestartDatum(
        self, request: pps_pb2.RestartDatumRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        self.p.restart_datum(pipeline_name(request.job.pipeline), request.job.id, list(request.data_filters))
        return empty_pb2.Empty()

    # ---------------------------------------------------------------- jobs
    def _job_info(self, info: r.JobInfo, details: bool) -> pps_pb2.JobInfo:
        if not details:
            return protos.job_info(info)
        try:
            pipe = self.p.inspect_pipeline(info.pipeline)
        except NotFoundError:
            return protos.job_info(info)
        return protos.job_info(info, pipe.spec, pipe.salt)

    def _wait_job(self, pipeline: str, job_id: str, context: grpc.ServicerContext) -> r.JobInfo:
        first = self.p.inspect_job(pipeline, job_id)
        if _terminal(first.state):
            return first
        self.state.wake.set()

        def check() -> r.JobInfo | None:
            info = self.p.inspect_job(pipeline, job_id)
            return info if _terminal(info.state) else None

        return self.state.wait_until(check, context, what=f"job {pipeline}@{job_id}")

    @rpc
    def InspectJob(
        self, request: pps_pb2.InspectJobRequest, context: grpc.ServicerContext
    ) -> pps_pb2.JobInfo:
        name = pipeline_name(request.job.pipeline)
        if request.wait:
            info = self._wait_job(name, request.job.id, context)
        else:
            info = self.p.inspect_job(name, request.job.id)
        return self._job_info(info, request.details)

    @rpc
    def InspectJobSet(
        self, request: pps_pb2.InspectJobSetRequest, context: grpc.ServicerContext
    ) -> Iterator[pps_pb2.JobInfo]:
        gid = request.job_set.id
        for info in reversed(self.p.list_jobs(global_id=gid)):
            if request.wait:
                info = self._wait_job(info.pipeline, info.id, context)
            yield self._job_info(info, request.details)

    @rpc
    def ListJob(
        self, request: pps_pb2.ListJobRequest, context: grpc.ServicerContext
    ) -> Iterator[pps_pb2.JobInfo]:
        if request.jqFilter:
            raise RpcAbort(grpc.StatusCode.UNIMPLEMENTED, "pachlet serve does not implement ListJob jqFilter")
        name = pipeline_name(request.pipeline) if request.pipeline.name else None
        if name is not None:
            self.p.inspect_pipeline(name)
        jobs = self.p.list_jobs(name)
        if request.projects:
            jobs = [j for j in jobs if in_projects(j.pipeline, request.projects)]
        if request.input_commit:
            wanted = {c.id for c in request.input_commit if c.id}
            if wanted:
                jobs = [j for j in jobs if j.id in wanted]
        if request.reverse:
            jobs = list(reversed(jobs))
        if request.number > 0:
            jobs = jobs[: request.number]
        for info in jobs:
            yield self._job_info(info, request.details)

    @rpc
    def ListJobSet(
        self, request: pps_pb2.ListJobSetRequest, context: grpc.ServicerContext
    ) -> Iterator[pps_pb2.JobSetInfo]:
        groups: dict[str, list[r.JobInfo]] = {}
        for info in self.p.list_jobs():
            groups.setdefault(info.id, []).append(info)
        sets = list(groups.items())
        if request.reverse:
            sets.reverse()
        if request.number > 0:
            sets = sets[: request.number]
        for gid, jobs in sets:
            yield pps_pb2.JobSetInfo(
                job_set=pps_pb2.JobSet(id=gid),
                jobs=[self._job_info(j, request.details) for j in reversed(jobs)],
            )

    # ---------------------------------------------------------------- datums
    @rpc
    def InspectDatum(
        self, request: pps_pb2.InspectDatumRequest, context: grpc.ServicerContext
    ) -> pps_pb2.DatumInfo:
        d = request.datum
        info = protos.datum_info(self.p.inspect_datum(pipeline_name(d.job.pipeline), d.job.id, d.id))
        stamp_committed(self.p, [info])
        return info

    @rpc
    def ListDatum(
        self, request: pps_pb2.ListDatumRequest, context: grpc.ServicerContext
    ) -> Iterator[pps_pb2.DatumInfo]:
        if request.HasField("job") and request.job.id:
            name = pipeline_name(request.job.pipeline)
            infos = [protos.datum_info(d) for d in self.p.list_datums(name, request.job.id)]
        elif request.HasField("input"):
            spec = {
                "pipeline": {"name": "list-datum"},
                "transform": {"cmd": ["true"]},
                "input": json_format.MessageToDict(request.input),
            }
            infos = [protos.planned_datum_info(d) for d in self.p.datums_for_spec(spec)]
        else:
            raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, "ListDatum needs a job or an input")
        if request.HasField("filter") and request.filter.state:
            states = set(request.filter.state)
            infos = [i for i in infos if i.state in states]
        stamp_committed(self.p, infos)
        yield from (reversed(infos) if request.reverse else infos)[: request.number or None]

    # ---------------------------------------------------------------- logs
    @rpc
    def GetLogs(
        self, request: pps_pb2.GetLogsRequest, context: grpc.ServicerContext
    ) -> Iterator[pps_pb2.LogMessage]:
        if request.HasField("job") and request.job.id:
            name, job_id = pipeline_name(request.job.pipeline), request.job.id
        elif request.pipeline.name:
            name, job_id = pipeline_name(request.pipeline), None
        else:
            raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, "GetLogs needs a pipeline or a job")
        datum_id = request.datum.id if request.HasField("datum") and request.datum.id else None
        keep = self.p.log_filter(name, request.data_filters) if request.data_filters else None
        if not request.follow and not request.master:
            lines = self.p.logs(name, job_id, datum_id)
        else:
            follower = self.p.follow_logs(name, job_id, datum_id, master=request.master)
            lines = follower.poll()
        if keep is not None:
            lines = [ln for ln in lines if keep(ln)]
        if request.tail > 0:
            lines = lines[-request.tail :]
        for line in lines:
            yield self._log_message(line)
        if not request.follow:
            return
        # pachd: a job's logs are followed until the job ends, a pipeline's until the client cancels
        ended = False
        while context.is_active() and not self.state.stopping.is_set():
            if job_id is not None:
                try:
                    ended = _terminal(self.p.inspect_job(name, job_id).state)
                except NotFoundError:
                    ended = True  # deleted meanwhile
            for line in follower.poll():
                if keep is None or keep(line):
                    yield self._log_message(line)
            if ended:
                return
            time.sleep(FOLLOW_POLL_SECONDS)

    def _log_message(self, line: r.LogLine) -> pps_pb2.LogMessage:
        msg = protos.log_message(line)
        msg.master = not line.user
        return msg

    # ---------------------------------------------------------------- secrets
    @rpc
    def CreateSecret(
        self, request: pps_pb2.CreateSecretRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        try:
            manifest = load_manifest_text(request.file)
        except PachletError as exc:
            raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, f"CreateSecret: {exc}") from None
        with self.state.writing() as p:
            p.create_secret(manifest)
        return empty_pb2.Empty()

    @rpc
    def DeleteSecret(
        self, request: pps_pb2.DeleteSecretRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        with self.state.writing() as p:
            p.delete_secret(request.secret.name)
        return empty_pb2.Empty()

    @rpc
    def InspectSecret(
        self, request: pps_pb2.InspectSecretRequest, context: grpc.ServicerContext
    ) -> pps_pb2.SecretInfo:
        return protos.secret_info(self.p.inspect_secret(request.secret.name))

    @rpc
    def ListSecret(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> pps_pb2.SecretInfos:
        return pps_pb2.SecretInfos(secret_info=[protos.secret_info(s) for s in self.p.list_secrets()])
