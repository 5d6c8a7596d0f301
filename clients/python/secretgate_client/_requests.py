"""Request messages and response conversions shared by the sync and the asyncio client."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from google.protobuf import json_format

from secretgate.v1 import secret_service_pb2 as pb


@dataclass(frozen=True)
class TeamSettings:
    """One team's back-end settings as the server holds them (credential-like fields redacted)."""

    team_id: str
    settings: Dict[str, Any] = field(default_factory=dict)
    configured: bool = False
    updated_at: Optional[datetime.datetime] = None


def read(
    names: Sequence[str],
    team_id: Optional[str],
    bypass_cache: bool,
    virtual_key: bool,
    team_settings: Optional[Mapping[str, Any]] = None,
) -> pb.ReadRequest:
    # Only the fields a call sets: each keyword given to the constructor costs a setter call, and the
    # usual Read is its names alone (docs/performance.md, "What a client helper costs").
    request = pb.ReadRequest(names=names)
    if team_id:
        request.team_id = team_id
    if bypass_cache:
        request.bypass_cache = bypass_cache
    if virtual_key:
        request.virtual_key = virtual_key
    return _with_team_settings(request, team_settings)


def write(
    name: str,
    value: Union[str, bytes],
    team_id: Optional[str],
    virtual_key: bool,
    description: Optional[str],
    tags: Optional[Mapping[str, str]],
    team_settings: Optional[Mapping[str, Any]] = None,
) -> pb.WriteRequest:
    request = pb.WriteRequest(
        name=name, team_id=team_id or "", virtual_key=virtual_key, description=description or "", tags=dict(tags or {})
    )
    if isinstance(value, (bytes, bytearray)):
        request.binary_value = bytes(value)
    else:
        request.value = value
    return _with_team_settings(request, team_settings)


def delete(
    name: str, team_id: Optional[str], virtual_key: bool, force: bool, team_settings: Optional[Mapping[str, Any]] = None
) -> pb.DeleteRequest:
    request = pb.DeleteRequest(name=name, team_id=team_id or "", virtual_key=virtual_key, force=force)
    return _with_team_settings(request, team_settings)


def rotate(
    current_name: str,
    value: str,
    new_name: Optional[str],
    team_id: Optional[str],
    virtual_key: bool,
    team_settings: Optional[Mapping[str, Any]] = None,
) -> pb.RotateRequest:
    request = pb.RotateRequest(
        current_name=current_name, new_name=new_name or "", value=value, team_id=team_id or "", virtual_key=virtual_key
    )
    return _with_team_settings(request, team_settings)


def _with_team_settings(request, team_settings: Optional[Mapping[str, Any]]):
    """Sets the call's own team settings (a google.protobuf.Struct); none or an empty mapping leaves them unset."""
    if team_settings:
        request.team_settings.update(dict(team_settings))
    return request


def list_hosted(team_id: Optional[str]) -> pb.ListHostedRequest:
    return pb.ListHostedRequest(team_id=team_id or "")


def set_team_settings(team_id: str, settings: Mapping[str, Any]) -> pb.SetTeamSettingsRequest:
    request = pb.SetTeamSettingsRequest(team_id=team_id)
    request.settings.update(dict(settings))
    return request


def get_team_settings(team_id: str) -> pb.GetTeamSettingsRequest:
    return pb.GetTeamSettingsRequest(team_id=team_id)


def team_settings(
    response: Union[pb.SetTeamSettingsResponse, pb.GetTeamSettingsResponse],
) -> TeamSettings:
    updated_at = None
    if isinstance(response, pb.GetTeamSettingsResponse) and response.HasField("updated_at"):
        updated_at = response.updated_at.ToDatetime(tzinfo=datetime.timezone.utc)
    return TeamSettings(
        team_id=response.team_id,
        settings=json_format.MessageToDict(response.settings),
        configured=response.configured,
        updated_at=updated_at,
    )
