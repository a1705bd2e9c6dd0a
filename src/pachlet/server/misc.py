"""The small services: version, admin (inspect cluster), health, enterprise state, and the auth /
identity / license stubs python-pachyderm's ``delete_all`` expects from a pachd without auth ("the auth
service is not activated"). Transactions: ``pachlet.server.transaction``."""

from __future__ import annotations

import uuid

import grpc
from google.protobuf import empty_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from python_pachyderm.proto.v2.admin import admin_pb2, admin_pb2_grpc
from python_pachyderm.proto.v2.auth import auth_pb2_grpc
from python_pachyderm.proto.v2.enterprise import enterprise_pb2, enterprise_pb2_grpc
from python_pachyderm.proto.v2.identity import identity_pb2_grpc
from python_pachyderm.proto.v2.license import license_pb2_grpc
from python_pachyderm.proto.v2.version.versionpb import version_pb2, version_pb2_grpc

from pachlet import protos
from pachlet.server.errors import AUTH_NOT_ACTIVATED, fill_unimplemented, rpc
from pachlet.server.state import ServerState

PACHD_VERSION = protos.PACHD_VERSION
"""The Pachyderm release whose API subset pachlet serves (one constant: ``pachlet.protos``)."""


def cluster_id(state: ServerState) -> str:
    """A stable cluster / deployment ID for a root: derived from its absolute path."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"pachlet:{state.p.root}").hex


@fill_unimplemented(version_pb2_grpc.APIServicer, "versionpb_v2.API")
class VersionServicer(version_pb2_grpc.APIServicer):
    """GetVersion: Pachyderm's version number, with ``additional`` naming pachlet."""

    @rpc
    def GetVersion(self, request: empty_pb2.Empty, context: grpc.ServicerContext) -> version_pb2.Version:
        return protos.version_message()


@fill_unimplemented(admin_pb2_grpc.APIServicer, "admin_v2.API")
class AdminServicer(admin_pb2_grpc.APIServicer):
    """InspectCluster: a stable ID per root; no version warnings."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    @rpc
    def InspectCluster(
        self, request: admin_pb2.InspectClusterRequest, context: grpc.ServicerContext
    ) -> admin_pb2.ClusterInfo:
        cid = cluster_id(self.state)
        return admin_pb2.ClusterInfo(id=cid, deployment_id=cid, version_warnings_ok=True)


@fill_unimplemented(enterprise_pb2_grpc.APIServicer, "enterprise_v2.API")
class EnterpriseServicer(enterprise_pb2_grpc.APIServicer):
    """GetState: no enterprise license (as a community-edition pachd)."""

    @rpc
    def GetState(
        self, request: enterprise_pb2.GetStateRequest, context: grpc.ServicerContext
    ) -> enterprise_pb2.GetStateResponse:
        return enterprise_pb2.GetStateResponse(state=enterprise_pb2.NONE)


@fill_unimplemented(auth_pb2_grpc.APIServicer, "auth_v2.API", AUTH_NOT_ACTIVATED)
class AuthServicer(auth_pb2_grpc.APIServicer):
    """Every auth call answers as a pachd with auth off does."""


@fill_unimplemented(identity_pb2_grpc.APIServicer, "identity_v2.API", AUTH_NOT_ACTIVATED)
class IdentityServicer(identity_pb2_grpc.APIServicer):
    """Every identity call answers as a pachd with auth off does."""


@fill_unimplemented(license_pb2_grpc.APIServicer, "license_v2.API", AUTH_NOT_ACTIVATED)
class LicenseServicer(license_pb2_grpc.APIServicer):
    """Every license call answers as a pachd with auth off does."""


def health_servicer(services: list[str]) -> health.HealthServicer:
    """The standard gRPC health service, SERVING for the server as a whole and each service."""
    servicer = health.HealthServicer()
    for name in ["", *services]:
        servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return servicer


def add_health(server: grpc.Server, servicer: health.HealthServicer) -> None:
    """Register the health service on a server."""
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
