"""The VSPC simulator's data: its tables (``VspcData``) and how they are filled: the MSP's companies (from
:mod:`vectis.simulators.fixtures`), then, from the same random stream, their backup-server and agent jobs
with a latest session each, active alarms with their history, and the activity log."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from vectis.simulators.base import Json
from vectis.simulators.fixtures import Customer, Msp
from vectis.simulators.fixtures import uid as draw_uid
from vectis.simulators.vspc.vendor import SERVER_TZ, TICKS, format_ticks, parse_ticks, ticks_of


@dataclass
class VspcData:
    """The tables of one VSPC server, as its API lists them (``VspcState`` adds the logins, tokens, knobs and
    bookkeeping)."""

    companies: list[Json] = field(default_factory=list)
    organizations: dict[str, Json] = field(default_factory=dict)  # company uid -> Organization
    server_jobs: list[Json] = field(default_factory=list)  # BackupServerJob
    agent_jobs: list[Json] = field(default_factory=list)  # BackupAgentJob
    alarms: list[Json] = field(default_factory=list)  # ActiveAlarm
    alarm_history: dict[str, list[Json]] = field(default_factory=dict)  # alarm uid -> AlarmActivation
    activity_logs: list[Json] = field(default_factory=list)  # ActivityLog, oldest first
    about: Json = field(default_factory=dict)  # About, without serverVersion (a knob)
    provider_uid: str = ""


D = TypeVar("D", bound=VspcData)

_JOB_KINDS: list[tuple[str, list[str], int]] = [  # type, names, weight
    ("BackupVm", ["Daily VM backup", "File servers", "SQL servers", "Domain controllers", "App servers"], 30),
    ("BackupCopy", ["Backup copy to cloud", "Offsite backup copy"], 10),
    ("SimpleBackupCopy", ["Copy to NAS", "Copy to secondary repository"], 5),
    ("ReplicationVM", ["Replica to DR site", "Cloud replica"], 6),
    ("CdpReplicationVM", ["CDP replica - ERP", "CDP replica - SQL"], 4),
    ("BackupToTape", ["Weekly full to tape", "Monthly archive to tape"], 4),
    ("FileToTape", ["File shares to tape"], 3),
    ("AgentBackupJob", ["Physical servers (agent)", "Laptops (agent)"], 8),
    ("SureBackup", ["SureBackup - verify DCs"], 3),
    ("SqlLogBackup", ["SQL transaction log backup"], 2),
]
_JOB_NAMES = {kind: names for kind, names, _ in _JOB_KINDS}
_SERVER_JOB_FIELDS = (
    "instanceUid", "uniqueUid", "name", "createdBy", "creationTime", "backupServerUid", "locationUid", "siteUid",
    "organizationUid", "mappedOrganizationUid", "status", "type", "lastRun", "lastEndTime", "lastDuration",
    "processingRate", "avgDuration", "transferredData", "backupChainSize", "bottleneck", "isEnabled", "scheduleType",
    "schedule", "failureMessage", "targetType", "destination", "retentionLimit", "retentionLimitType",
    "isGfsOptionEnabled", "lastSessionTasks",
)  # fmt: skip
_WEEK = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_JOB_STATUSES = [("Success", 60), ("Warning", 12), ("Failed", 10), ("Running", 6), ("Idle", 6), ("None", 4)]
_FAILURES = {
    "Failed": [
        "Error: Failed to connect to the host: The operation has timed out.\n",
        "Error: There is not enough space on the disk. Failed to write data to the file.\n",
        "Error: Operation was canceled by user SYSTEM.\n",
        "Error: Unable to truncate transaction logs: access denied.\n",
    ],
    "Warning": [
        "Warning: Changed block tracking cannot be enabled: one or more VM snapshots present.\n",
        "Warning: Unable to allocate processing resources. Retrying.\n",
        "Warning: Free space on the backup repository is below 10%.\n",
    ],
}
_TASK_ROLES = ["DC", "FS", "SQL", "APP", "EXCH", "WEB", "RDS", "PRINT"]
_AGENT_STATUSES = [("Success", 60), ("Warning", 12), ("Failed", 12), ("Running", 5), ("None", 8), ("Unknown", 3)]
_AGENT_POLICIES = [
    ("Windows server - Entire computer", "Server", "EntireComputer", "Windows"),
    ("Windows workstation - Personal files", "Workstation", "File", "Windows"),
    ("Linux server - Volume level", "Server", "Volume", "Linux"),
    ("Mac workstation - Personal files", "Workstation", "File", "Mac"),
]
_ALARM_STATUSES = [("Error", 35), ("Warning", 25), ("Resolved", 25), ("Acknowledged", 10), ("Info", 5)]
_ACTIVITY = [  # activityLogType, activityKind, message template, weight
    ("LoginSuccessful", "External", "{user} account logged in from {ip} using Company account authentication type", 40),
    ("LoginFailed", "External", "{user} account failed to log in from {ip}", 6),
    ("CompanyModified", "External", 'Company "{company}" was modified by {user}', 8),
    ("BackupPolicyModified", "External", 'Backup policy "{policy}" was modified by {user}', 5),
    ("CompanyUserCreated", "External", 'User "{login}" was created for company "{company}" by {user}', 3),
    ("ManagementAgentConnected", "Internal", 'Management agent on "{computer}" connected', 10),
    ("ManagementAgentDisconnected", "Internal", 'Management agent on "{computer}" disconnected', 8),
    ("LicenseUpdated", "Internal", "License was updated automatically", 2),
]


def _weighted(rng: random.Random, options: Sequence[tuple[Any, ...]]) -> Any:
    return rng.choices([o[0] for o in options], weights=[o[-1] for o in options])[0]


class Generator:
    """All randomness comes from the MSP's one ``random.Random(seed)`` (``msp.rng``, drawn on after its
    customers), in a fixed order, so a seed and a ``now`` give the same MSP every time (the demo's company
    UIDs survive a restart)."""

    def __init__(self, msp: Msp, now: datetime | None) -> None:
        self.msp = msp
        self.rng = msp.rng  # drawn on after the MSP's customers
        self.now = ticks_of(now or datetime.now(UTC))
        self.tz = SERVER_TZ
        self.site_uid = msp.site_uid  # the provider's Cloud Connect site
        self.vspc_user_uid = msp.portal_user_uid  # the provider's own portal user (ours)
        self.plans = msp.plan_uids
        self.policies = [(key, *policy) for key, policy in zip(msp.policy_uids, _AGENT_POLICIES, strict=True)]

    def uid(self) -> str:
        return draw_uid(self.rng)

    def time(self, ticks: int) -> str:
        return format_ticks(ticks, self.tz)

    def ago(self, low_seconds: float, high_seconds: float) -> int:
        return self.now - int(self.rng.uniform(low_seconds, high_seconds) * TICKS)

    # -- build

    def build(self, state: D, *, jobs: list[int], agent_jobs: int, alarms: int, activity_logs: int) -> D:
        """``state`` (a fresh one) filled with the MSP's companies, then its jobs, alarms and activity."""
        msp = self.msp
        state.provider_uid = msp.provider_uid
        state.about = {
            "installationId": msp.installation_uid,
            "installationDate": self.time(self.now - int(msp.installed_seconds_ago * TICKS)),
        }
        hosted_server = {"uid": msp.hosted_server_uid, "name": "SUMMIT-VBR-HOSTED", "location": msp.hosted_location_uid}
        kinds = ("BackupServerJob", "BackupAgent", "Company", "CompanyQuota")
        templates = dict(zip(kinds, msp.alarm_template_uids, strict=True))

        infos = []
        for customer in msp.customers:
            company, organization, info = self.company(customer)
            state.companies.append(company)
            state.organizations[company["instanceUid"]] = organization
            infos.append(info)
        for index, info in enumerate(infos):
            # Every fourth customer is backed up on the provider's hosted VBR server (organizationUid is
            # then the provider's), so a connector must attribute by mappedOrganizationUid.
            server = hosted_server if index % 4 == 3 else info["server"]
            owner = state.provider_uid if index % 4 == 3 else info["uid"]
            for number in range(jobs[index] if index < len(jobs) else 0):
                state.server_jobs.append(self.server_job(info, server, owner, number))
        self.finish(state.server_jobs)
        if infos:
            for number in range(agent_jobs):
                state.agent_jobs.append(self.agent_job(infos[self.rng.randrange(len(infos))], number))
            self.finish_agents(state.agent_jobs)
        by_uid = {info["uid"]: info for info in infos}
        for _ in range(alarms if infos else 0):
            alarm, history = self.alarm(state, by_uid, templates)
            state.alarms.append(alarm)
            state.alarm_history[alarm["instanceUid"]] = history
        if infos:
            state.activity_logs = sorted(
                (self.activity(infos, state.provider_uid) for _ in range(activity_logs)),
                key=lambda row: parse_ticks(row["date"]) or 0,
            )
        for rows in (state.companies, state.server_jobs, state.agent_jobs, state.alarms):
            rows.sort(key=lambda row: row["instanceUid"])
        return state

    def company(self, customer: Customer) -> tuple[Json, Json, Json]:
        """The customer as a Company, its Organization, and what the jobs and alarms need of it."""
        c = customer
        company = {
            "instanceUid": c.uid,
            "name": c.name,
            "status": "Active" if c.active else "Disabled",
            "resellerUid": None,
            "subscriptionPlanUid": c.plan_uid,
            "isRestAccessEnabled": c.rest_access,
            "isAlarmDetectEnabled": True,
            "companyServices": {
                "hostedServices": {"isVbPublicCloudManagementEnabled": False},
                "remoteServices": {
                    "isBackupResourcesEnabled": True,
                    "backupAgentsManagement": {
                        "workstationAgentsQuota": c.workstation_quota,
                        "serverAgentsQuota": c.server_quota,
                    },
                    "backupServersManagement": {"backupServerQuota": c.backup_server_quota},
                    "vb365ServersManagement": None,
                    "isVbPublicCloudManagementEnabled": False,
                },
            },
            "loginUrl": None,
            "ownerCredentials": {"userName": f"{c.slug}-owner", "password": None},
        }
        organization = {
            "instanceUid": c.uid,
            "name": c.name,
            "alias": c.slug[:32],
            "type": "Company",
            "taxId": None,
            "email": f"it@{c.domain}",
            "phone": c.phone,
            "country": None,
            "state": None,
            "countryName": c.country,
            "regionName": c.region,
            "city": c.city,
            "street": c.street,
            "locationAdmin0Code": None,
            "locationAdmin1Code": None,
            "locationAdmin2Code": None,
            "notes": None,
            "zipCode": c.zip_code,
            "website": c.website,
            "veeamTenantId": None,
            "companyId": None,
        }
        info: Json = {
            "uid": c.uid,
            "name": c.name,
            "code": c.code,
            "location": c.location_uid,
            "server": {"uid": c.server_uid, "name": f"{c.code}-VBR01", "location": c.location_uid},
            "agent_uid": c.agent_uid,
            "users": list(c.user_uids),
            "login": f"{c.slug[:12]}.admin",
        }
        return company, organization, info

    def server_job(self, info: Json, server: Json, owner: str, number: int) -> Json:
        rng = self.rng
        kind = _weighted(rng, _JOB_KINDS)
        status = _weighted(rng, _JOB_STATUSES)
        job: Json = dict.fromkeys(_SERVER_JOB_FIELDS)  # Veeam's order; session() fills in the rest
        job |= {
            "instanceUid": self.uid(),
            "uniqueUid": self.uid(),
            "name": "",
            "createdBy": f"{info['code']}-VBR01\\Administrator",
            "creationTime": self.time(self.ago(60 * 86400, 900 * 86400)),
            "backupServerUid": server["uid"],
            "locationUid": server["location"],
            "siteUid": None,
            "organizationUid": owner,
            "mappedOrganizationUid": info["uid"],
            "type": kind,
            "isEnabled": rng.random() > 0.05,
            "_info": info,
            "_number": number,
        }
        self.session(job, status)
        return job

    def last_run(self, status: str, stale: bool | None, longest: int) -> tuple[int | None, int | None, int | None]:
        """Start, end and duration of the latest session. A tenth of the finished ones are days old,
        because the backup-stale rules need jobs that stopped running."""
        rng = self.rng
        if stale is None:
            stale = rng.random() < 0.1
        if status in ("None", "Unknown"):
            return None, None, None
        if status == "Running":
            return self.ago(60, 3 * 3600), None, None
        start = self.ago(3 * 86400, 12 * 86400) if stale else self.ago(600, 30 * 3600)
        duration = int(rng.uniform(90, longest))
        # A finished session ended before now: one started 10 minutes ago cannot have run for 3 hours.
        start = min(start, self.now - (duration + 60) * TICKS)
        return start, start + duration * TICKS + rng.randrange(TICKS), duration

    def session(self, job: Json, status: str, stale: bool | None = None) -> None:
        """The name and the fields that follow from the type, and the latest session, coherent with
        ``status``."""
        rng = self.rng
        kind, info = job["type"], job["_info"]
        job["name"] = f"{info['code']} - {rng.choice(_JOB_NAMES[kind])} {job['_number'] + 1:02d}"
        job["siteUid"] = self.site_uid if kind in ("BackupCopy", "ReplicationVM") else None
        job["status"] = status
        start, end, duration = self.last_run(status, stale, 3 * 3600)
        tasks: list[Json] = []
        if start is not None:
            cursor = start + 5 * TICKS
            for slot in range(rng.randint(1, 3)):
                task_status = {"Running": "Running" if slot == 0 else "Pending", "Idle": "Success", "None": "Unknown"}
                this = task_status.get(status, status if slot == 0 else "Success")
                span = max(int((duration or 600) / 3), 30)
                task_end = None if this in ("Running", "Pending") else cursor + span * TICKS
                read = rng.randrange(2, 400) * 2**28
                tasks.append(
                    {
                        "instanceUid": self.uid(),
                        "objectUid": self.uid(),
                        "objectName": f"{info['code']}-{rng.choice(_TASK_ROLES)}{rng.randint(1, 4):02d}",
                        "totalObjects": rng.choice([None, rng.randint(1, 12)]),
                        "processedObjects": None,
                        "readDataSize": read,
                        "transferredDataSize": read // rng.randint(2, 8),
                        "startTime": None if this == "Pending" else self.time(cursor),
                        "endTime": None if task_end is None else self.time(task_end),
                        "duration": None if task_end is None else span,
                        "failureMessages": [rng.choice(_FAILURES[this]).strip()] if this in _FAILURES else [],
                        "status": this,
                    }
                )
                tasks[-1]["processedObjects"] = tasks[-1]["totalObjects"]
                if task_end is not None:
                    cursor = task_end + TICKS
        transferred = sum(t["transferredDataSize"] for t in tasks) if tasks else None
        schedule_type = {
            "BackupCopy": "Continuously",
            "CdpReplicationVM": "Continuously",
            "SimpleBackupCopy": "Chained",
            "SureBackup": "Chained",
            "SqlLogBackup": "Periodically",
            "BackupToTape": "Monthly",
        }.get(kind, rng.choice(["Daily", "Daily", "Daily", "Periodically", "NotScheduled"]))
        job.update(
            {
                "lastRun": None if start is None else self.time(start),
                "lastEndTime": None if end is None else self.time(end),
                "lastDuration": duration,
                "processingRate": None if not duration or transferred is None else round(transferred / duration, 1),
                "avgDuration": None if duration is None else int(duration * rng.uniform(0.8, 1.2)),
                "transferredData": transferred,
                "backupChainSize": 0 if start is None else rng.randrange(1, 4000) * 2**30,
                "bottleneck": "None" if start is None else rng.choice(["Source", "Target", "Network", "Proxy"]),
                "scheduleType": schedule_type,
                "schedule": self.schedule(schedule_type),
                "failureMessage": rng.choice(_FAILURES[status]) if status in _FAILURES else None,
                "targetType": {"BackupCopy": "Cloud", "ReplicationVM": rng.choice(["Cloud", "Local"])}.get(
                    kind, "None" if kind == "SureBackup" else "Local"
                ),
                "destination": {
                    "BackupCopy": "Summit Cloud Repository",
                    "SimpleBackupCopy": "NAS Repository",
                    "ReplicationVM": "DR Host Cluster",
                    "CdpReplicationVM": "DR Host Cluster",
                    "BackupToTape": "Tape Media Pool",
                    "FileToTape": "Tape Media Pool",
                    "SureBackup": None,
                }.get(kind, "Default Backup Repository"),
                "retentionLimit": None if kind == "SureBackup" else rng.choice([7, 14, 30]),
                "retentionLimitType": "None" if kind == "SureBackup" else rng.choice(["Days", "RestorePoints"]),
                "isGfsOptionEnabled": kind in ("BackupCopy", "BackupVm") and rng.random() < 0.3,
                "lastSessionTasks": tasks,
            }
        )

    def schedule(self, schedule_type: str) -> Json | None:
        """A ``BackupServerJobSchedule`` whose ``startDateTime`` is the next run."""
        if schedule_type == "NotScheduled":
            return None
        rng = self.rng
        hour = rng.choice([19, 20, 21, 22, 23])
        offset = self.tz.utcoffset(None) or timedelta(0)
        utc_hour = (hour - int(offset.total_seconds() // 3600)) % 24
        day = 86400 * TICKS
        upcoming = self.now - self.now % day + utc_hour * 3600 * TICKS
        if schedule_type == "Monthly":
            upcoming += rng.randint(1, 27) * day  # the last Saturday is never more than four weeks away
        elif schedule_type == "Periodically":
            upcoming = self.now + rng.randint(60, 4 * 3600) * TICKS
        elif upcoming <= self.now:
            upcoming += day
        # Continuous and chained jobs have no next start: they run when data arrives or after another job.
        timed = schedule_type not in ("Continuously", "Chained")
        times = {"time": f"{hour:02d}:00", "timeUtc": f"{utc_hour:02d}:00"}
        return {
            "startDateTime": self.time(upcoming) if timed else None,
            "startDateTimeUtc": format_ticks(upcoming, UTC) if timed else None,
            "dailyScheduleOptions": {"kind": "Everyday", "days": list(_WEEK), **times}
            if schedule_type == "Daily"
            else None,
            "monthlyScheduleOptions": {
                **times,
                "dayNumberInMonth": "Last",
                "dayOfWeek": "Saturday",
                "months": list(_MONTHS),
            }
            if schedule_type == "Monthly"
            else None,
            "periodicallyScheduleOptions": {"kind": "Hours", "fullPeriod": 4, "schedule": None}
            if schedule_type == "Periodically"
            else None,
            "backupWindowOptions": None,
            "continuousScheduleEnabled": schedule_type == "Continuously",
            "chainingOptions": {"previousJobId": None, "previousJobName": None} if schedule_type == "Chained" else None,
        }

    def finish(self, jobs: list[Json]) -> None:
        """Every kind and every status at least once, so each mapping branch has data; chained jobs
        point at a backup job of the same company."""
        untouched = list(range(len(jobs)))
        self.rng.shuffle(untouched)
        for kind, _, _ in _JOB_KINDS:
            if untouched and not any(job["type"] == kind for job in jobs):
                job = jobs[untouched.pop()]
                job["type"] = kind
                self.session(job, job["status"])
        for status, _ in _JOB_STATUSES:
            if untouched and not any(job["status"] == status for job in jobs):
                self.session(jobs[untouched.pop()], status)
        if untouched and not any(self.is_stale(job) for job in jobs):
            self.session(jobs[untouched.pop()], "Success", stale=True)
        backups: dict[str, list[Json]] = {}
        for job in jobs:
            if job["type"] == "BackupVm":
                backups.setdefault(job["mappedOrganizationUid"], []).append(job)
        for job in jobs:
            if job["scheduleType"] == "Chained":
                candidates = backups.get(job["mappedOrganizationUid"])
                if candidates:
                    previous = self.rng.choice(candidates)
                    job["schedule"]["chainingOptions"] = {
                        "previousJobId": previous["instanceUid"],
                        "previousJobName": previous["name"],
                    }
                else:
                    job["scheduleType"], job["schedule"] = "NotScheduled", None
            del job["_info"], job["_number"]

    def is_stale(self, job: Json) -> bool:
        return bool(job["lastEndTime"]) and (parse_ticks(job["lastRun"]) or 0) < self.now - 3 * 86400 * TICKS

    def agent_job(self, info: Json, number: int) -> Json:
        rng = self.rng
        policy_uid, policy, mode, backup_mode, system = rng.choice(self.policies)
        computer = f"{info['code']}-{'SRV' if mode == 'Server' else 'LT'}{rng.randint(1, 40):03d}"
        managed_by_policy = rng.random() < 0.7
        job: Json = {
            "instanceUid": self.uid(),
            "originalUid": self.uid(),
            "backupAgentUid": self.uid(),
            "organizationUid": info["uid"],
            "name": f"{policy}_{computer}" if managed_by_policy else f"Agent backup {number + 1} - {computer}",
            "configUid": self.uid(),
            "systemType": system,
            "backupPolicyUid": policy_uid if managed_by_policy else None,
            "backupPolicyName": policy if managed_by_policy else None,
            "backupPolicyAssignStatus": "Assigned" if managed_by_policy else None,
            "backupPolicyFailureMessage": None,
            "status": None,
            "operationMode": mode,
            "destination": rng.choice(["Summit Cloud Repository", "\\\\nas01\\backups", "D:\\Backups\\"]),
            "restorePoints": None,
            "lastRun": None,
            "lastEndTime": None,
            "lastDuration": None,
            "nextRun": self.time(self.now + int(rng.uniform(600, 86400)) * TICKS),
            "avgDuration": None,
            "backupMode": backup_mode,
            "targetType": rng.choice(["CloudRepository", "SharedFolder", "LocalFolder", "BackupRepository"]),
            "isEnabled": True,
            "scheduleType": "Daily",
            "scheduleDisplayName": f"Daily at {rng.choice(['12:30', '18:00', '21:00', '23:30'])}",
            "lastModifiedDate": self.time(self.ago(5 * 86400, 200 * 86400)),
            "lastModifiedBy": "SUMMIT\\vectis-svc" if rng.random() < 0.2 else "SUMMIT\\Administrator",
            "failureMessage": None,
            "backedUpSize": None,
            "freeSpace": None,
        }
        self.agent_session(job, _weighted(rng, _AGENT_STATUSES))
        return job

    def agent_session(self, job: Json, status: str, stale: bool | None = None) -> None:
        rng = self.rng
        start, end, duration = self.last_run(status, stale, 5400)
        job |= {
            "status": status,
            "restorePoints": None if start is None else rng.randint(1, 30),
            "lastRun": None if start is None else self.time(start),
            "lastEndTime": None if end is None else self.time(end),
            "lastDuration": duration,
            "avgDuration": None if duration is None else int(duration * rng.uniform(0.8, 1.2)),
            "failureMessage": rng.choice(_FAILURES[status]) if status in _FAILURES else None,
            "backedUpSize": None if start is None else rng.randrange(1, 900) * 2**30,
            "freeSpace": None if start is None else rng.randrange(20, 2000) * 2**30,
        }

    def finish_agents(self, jobs: list[Json]) -> None:
        untouched = list(range(len(jobs)))
        self.rng.shuffle(untouched)
        for status, _ in _AGENT_STATUSES:
            if untouched and not any(job["status"] == status for job in jobs):
                self.agent_session(jobs[untouched.pop()], status)
        if untouched and not any(self.is_stale(job) for job in jobs):
            self.agent_session(jobs[untouched.pop()], "Success", stale=True)

    def alarm(self, state: VspcData, by_uid: dict[str, Json], templates: dict[str, str]) -> tuple[Json, list[Json]]:
        rng = self.rng
        kind = rng.choices(["BackupServerJob", "BackupAgent", "Company"], weights=[60, 25, 15])[0]
        if kind == "BackupAgent" and not state.agent_jobs:
            kind = "BackupServerJob"
        if kind == "BackupServerJob" and not state.server_jobs:
            kind = "Company"
        status = _weighted(rng, _ALARM_STATUSES)
        if kind == "BackupServerJob":
            job = rng.choice(state.server_jobs)
            company = by_uid[job["mappedOrganizationUid"]]
            status = {"Failed": "Error", "Warning": "Warning", "Success": "Resolved"}.get(job["status"], status)
            obj = {
                "instanceUid": job["backupServerUid"],
                "type": "BackupServerJob",
                "organizationUid": company["uid"],
                "locationUid": job["locationUid"],
                "managementAgentUid": company["agent_uid"],
                "computerName": f"{company['code']}-VBR01",
                "objectUid": job["instanceUid"],
                "objectName": job["name"],
            }
            template = templates["BackupServerJob"]
            subject = f'Job session for "{job["name"]}"'
        elif kind == "BackupAgent":
            job = rng.choice(state.agent_jobs)
            company = by_uid[job["organizationUid"]]
            obj = {
                "instanceUid": job["backupAgentUid"],
                "type": "BackupAgent",
                "organizationUid": company["uid"],
                "locationUid": company["location"],
                "managementAgentUid": company["agent_uid"],
                "computerName": job["name"].rsplit("_", 1)[-1].rsplit(" - ", 1)[-1],
                "objectUid": job["instanceUid"],
                "objectName": job["name"],
            }
            template = templates["BackupAgent"]
            subject = f'Job session for "{job["name"]}"'
        else:
            company = by_uid[rng.choice(state.companies)["instanceUid"]]
            obj = {
                "instanceUid": company["uid"],
                "type": "Company",
                "organizationUid": company["uid"],
                "locationUid": None,
                "managementAgentUid": None,
                "computerName": "SUMMIT-VSPC01",
                "objectUid": company["uid"],
                "objectName": company["name"],
            }
            template = templates["Company"]
            subject = f'Cloud repository quota of company "{company["name"]}"'
        repeat = rng.choices([1, 2, 3, 4, 5], weights=[40, 25, 15, 10, 10])[0]
        last = self.ago(300, 20 * 86400 - 300)  # activations spread over the last 20 days
        earliest = self.now - 20 * 86400 * TICKS
        times = sorted([last] + [rng.randint(earliest, last - 1) for _ in range(repeat - 1)])
        history = []
        for index, moment in enumerate(times):
            this = status if index == len(times) - 1 else rng.choice(["Error", "Warning", "Resolved"])
            history.append(
                {
                    "instanceUid": self.uid(),
                    "time": self.time(moment),
                    "status": this,
                    "message": self.alarm_message(kind, subject, this),
                    "remark": "Looking into it.\n" if this == "Acknowledged" else "\n",
                }
            )
        alarm = {
            "instanceUid": self.uid(),
            "alarmTemplateUid": template,
            "repeatCount": repeat,
            "object": obj,
            "lastActivation": dict(history[-1]),
            "area": "vspc",
        }
        return alarm, history

    @staticmethod
    def alarm_message(kind: str, subject: str, status: str) -> str:
        if kind == "Company":
            usage = {"Error": 100, "Warning": 90, "Resolved": 70, "Acknowledged": 100, "Info": 80}[status]
            return f"{subject} has reached {usage}% usage.\n"
        outcome = {
            "Error": "error",
            "Warning": "warning",
            "Resolved": "success",
            "Acknowledged": "error",
            "Info": "success",
        }[status]
        return f"{subject} finished with {outcome}.\n"

    def activity(self, infos: list[Json], provider_uid: str) -> Json:
        rng = self.rng
        kind, activity_kind, template, _ = rng.choices(_ACTIVITY, weights=[a[3] for a in _ACTIVITY])[0]
        company = rng.choice(infos)
        provider_side = kind in ("LicenseUpdated",) or rng.random() < 0.3
        user_uid = (
            None if activity_kind == "Internal" else (self.vspc_user_uid if provider_side else company["users"][0])
        )
        message = template.format(
            user="vectis-svc" if provider_side else company["login"],
            ip=f"203.0.113.{rng.randint(2, 250)}",
            company=company["name"],
            policy=rng.choice(_AGENT_POLICIES)[0],
            login=f"{company['login'][:-6]}.tech",
            computer=f"{company['code']}-SRV{rng.randint(1, 40):03d}",
        )
        return {
            "message": message,
            "activityLogType": kind,
            "activityKind": activity_kind,
            "date": self.time(self.ago(30, 20 * 86400)),
            "userUid": user_uid,
            "organizationUid": provider_uid if kind == "LicenseUpdated" else company["uid"],
        }
