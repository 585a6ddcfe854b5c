"""The connector contract: the registry, the outbound seam's guards, pure parsers, name matching."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime

import pytest

from vectis.connectors import registry
from vectis.connectors.base import CATEGORIES, BackupJobRecord
from vectis.connectors.veeam import parse_agent_job, parse_alarm, parse_company, parse_server_job, parse_time
from vectis.ingest.matching import normalize_name
from vectis.platform.config import ROOT
from vectis.platform.http import BlockedAddress, ConnectorError, HttpClient, check_host


@pytest.mark.parametrize("key", sorted(registry.CONNECTORS))
def test_every_registered_vendor_has_a_schema_a_simulator_and_tests(key: str) -> None:
    connector = registry.get(key)
    assert connector.key == key and connector.category in CATEGORIES
    assert connector.fields and connector.label and connector.description
    assert any(f.secret for f in connector.fields), "vendor credentials are secret fields"
    simulator = {"veeam": "vspc", "m365": "graph"}.get(key, key)
    importlib.import_module(f"vectis.simulators.{simulator}")
    assert (ROOT / "tests" / "vendors" / f"test_{key}.py").exists()


@pytest.mark.parametrize("key", sorted(registry.CONNECTORS))
def test_every_vendor_says_what_it_brings_in_a_whole_sentence(key: str) -> None:
    """The integration page's line under its name. NinjaOne's was cut after its first half: two string literals on
    two lines without parentheses are two statements, the second thrown away."""
    description = registry.get(key).description
    assert description.endswith(".") and "  " not in description, description


@pytest.mark.parametrize("host", ["169.254.169.254", "0.0.0.0", "224.0.0.1"])  # noqa: S104 - the address under test
def test_it_refuses_metadata_link_local_and_unspecified_hosts(host: str) -> None:
    with pytest.raises(BlockedAddress):
        check_host(host, 443, allow_loopback=True)


def test_it_refuses_loopback_unless_allowed() -> None:
    with pytest.raises(BlockedAddress, match="this server itself"):
        check_host("127.0.0.1", 443, allow_loopback=False)
    check_host("127.0.0.1", 443, allow_loopback=True)
    check_host("10.20.30.40", 1280, allow_loopback=False)  # self-hosted VSPC on a private network is fine


def test_it_names_an_unresolvable_host() -> None:
    with pytest.raises(ConnectorError, match="could not be found"):
        check_host("no-such-host.invalid", 443, allow_loopback=False)


def test_it_refuses_a_url_without_scheme_or_host() -> None:
    with pytest.raises(ConnectorError, match="must start with https://"):
        HttpClient(base_url="vspc.example.com:1280")


def test_it_reads_vspc_times_with_seven_fractional_digits() -> None:
    assert parse_time("2023-01-16T16:30:09.4952609+01:00") == datetime(2023, 1, 16, 15, 30, 9, 495260, tzinfo=UTC)
    assert parse_time("2023-01-16T16:30:09Z") == datetime(2023, 1, 16, 16, 30, 9, tzinfo=UTC)
    assert parse_time(None) is None


@pytest.mark.parametrize(
    ("vendor_type", "status", "kind", "state"),
    [
        ("BackupVm", "Success", "Backup", "success"),
        ("SimpleBackupCopy", "Warning", "BackupCopy", "warning"),
        ("CdpReplicationVM", "Failed", "Replica", "failed"),
        ("FileToTape", "WaitingTape", "Tape", "running"),
        ("SureBackup", "Idle", "Other", "stopped"),
        ("SomethingNew", "Unknown", "Other", "unknown"),
    ],
)
def test_it_maps_vspc_job_types_and_statuses(vendor_type: str, status: str, kind: str, state: str) -> None:
    record = parse_server_job(
        {
            "instanceUid": "j1",
            "name": "Nightly",
            "type": vendor_type,
            "status": status,
            "organizationUid": "o1",
            "mappedOrganizationUid": "c1",
            "lastRun": "2026-11-20T01:00:00.0000000+00:00",
            "lastDuration": 300,
            "isEnabled": True,
        }
    )
    assert isinstance(record, BackupJobRecord)
    assert (record.kind, record.state, record.customer_external_id, record.duration_seconds) == (kind, state, "c1", 300)


def test_it_parses_companies_agent_jobs_and_alarms() -> None:
    assert parse_company({"instanceUid": "c1", "name": "Bayside Bistro"}) is not None
    assert parse_company({"name": "no id"}) is None
    agent = parse_agent_job({"instanceUid": "a1", "organizationUid": "c1", "status": "Failed", "name": "Laptop"})
    assert agent is not None and agent.external_id == "agent:a1" and agent.state == "failed"
    alarm = parse_alarm(
        {
            "instanceUid": "al1",
            "object": {"type": "BackupServerJob", "organizationUid": "c1", "objectName": "Nightly"},
            "lastActivation": {
                "instanceUid": "act1",
                "time": "2026-11-20T01:00:00.0000000+00:00",
                "status": "Error",
                "message": "Job failed",
            },
        }
    )
    assert alarm is not None and alarm.external_id == "al1:act1" and alarm.severity == "error"
    assert alarm.title == "Nightly: Job failed" and alarm.customer_external_id == "c1"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Aldridge & Co.", "aldridge and co"),
        ("Coast Logistics, LLC", "coast logistics"),
        ("The Drexel Dental GmbH", "Drexel Dental"),
    ],
)
def test_it_matches_names_after_normalising(a: str, b: str) -> None:
    assert normalize_name(a) == normalize_name(b)


@pytest.mark.parametrize("host", ["::ffff:127.0.0.1", "::ffff:169.254.169.254", "2002:a9fe:a9fe::1"])
def test_it_sees_through_ipv4_addresses_wrapped_in_ipv6(host: str) -> None:
    with pytest.raises(BlockedAddress):
        check_host(host, 443, allow_loopback=False)


def test_it_never_matches_names_that_normalise_to_nothing() -> None:
    assert normalize_name("株式会社テスト") == "株式会社テスト"
    assert normalize_name("Ärzte AG") == "ärzte"
    assert normalize_name("The Company") == ""
