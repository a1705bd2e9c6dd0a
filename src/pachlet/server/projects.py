"""The project RPCs of ``pfs_v2.API`` (pachd 2.5+): CreateProject, InspectProject, ListProject and
DeleteProject, as pachd v2.7.6's src/server/pfs/server/api_server.go and driver.go answer them; mixed
into ``pachlet.server.pfs.PFSServicer``."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import empty_pb2
from python_pachyderm.proto.v2.pfs import pfs_pb2

from pachlet import protos
from pachlet.errors import AlreadyExistsError
from pachlet.projects import project_name_error
from pachlet.server.errors import RpcAbort, rpc
from pachlet.server.state import ServerState


class ProjectRPCs:
    """CreateProject / InspectProject / ListProject / DeleteProject over the facade."""

    state: ServerState

    @rpc
    def CreateProject(
        self, request: pfs_pb2.CreateProjectRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        """driver.go ``createProjectInTransaction``: the name is validated, ``update`` upserts."""
        name = request.project.name
        message = project_name_error(name)
        if message:
            raise RpcAbort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid project name: {message}")
        with self.state.writing() as p:
            try:
                p.create_project(name, request.description, update=request.update)
            except AlreadyExistsError:
                raise RpcAbort(
                    grpc.StatusCode.ALREADY_EXISTS,
                    f'could not create project: project "{name}" already exists',
                ) from None
        return empty_pb2.Empty()

    @rpc
    def InspectProject(
        self, request: pfs_pb2.InspectProjectRequest, context: grpc.ServicerContext
    ) -> pfs_pb2.ProjectInfo:
        """One project (NOT_FOUND: ``error getting project "p": project "p" not found``)."""
        return protos.project_info(self.state.p.inspect_project(request.project.name))

    @rpc
    def ListProject(
        self, request: pfs_pb2.ListProjectRequest, context: grpc.ServicerContext
    ) -> Iterator[pfs_pb2.ProjectInfo]:
        """Every project, ``default`` first."""
        for info in self.state.p.list_projects():
            yield protos.project_info(info)

    @rpc
    def DeleteProject(
        self, request: pfs_pb2.DeleteProjectRequest, context: grpc.ServicerContext
    ) -> empty_pb2.Empty:
        """driver.go ``deleteProject``: FAILED_PRECONDITION while the project holds repos (``force``
        does not change that in pachd 2.7.6)."""
        with self.state.writing() as p:
            p.delete_project(request.project.name)
        return empty_pb2.Empty()
