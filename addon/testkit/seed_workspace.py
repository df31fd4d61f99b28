"""A realistic workspace for the development sandbox: users, clients, projects with tasks, tags
and a month of time entries, shaped like Clockify's API answers.

Deterministic for a given ``seed`` and ``today``, so two runs of ``make dev`` serve the same
workspace and a test can count on its figures::

    workspace = build_workspace("5f0c1a2b3c4d5e6f7a8b9c0d")
    for collection, items in workspace.collections().items():
        fake.seed(workspace.workspace_id, collection, items)
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

USER_NAMES = ("Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Torvalds",
              "Margaret Hamilton")
CLIENT_NAMES = ("Acme Corp", "Globex", "Initech")
PROJECT_NAMES = ("Website redesign", "Mobile app", "Data warehouse", "Onboarding flow", "Billing service",
                 "Marketing site", "Support portal", "Design system", "Search revamp", "Analytics dashboard",
                 "API gateway", "Payment integration", "Internal tools", "Security audit", "Performance work",
                 "Email campaigns", "Partner portal", "Reporting", "Infrastructure", "Research")
TASK_NAMES = ("Planning", "Design", "Implementation", "Review", "QA")
TAG_NAMES = ("billable", "meeting", "bugfix", "feature", "research", "support", "urgent", "internal",
             "documentation", "travel")
COLORS = ("#03A9F4", "#4CAF50", "#FF9800", "#9C27B0", "#F44336", "#009688", "#3F51B5", "#795548")
TIME_ENTRY_COUNT = 200
DAYS = 30


def entity_id(*parts: str) -> str:
    """A 24-hex-digit id like Clockify's, derived from ``parts``."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:24]


@dataclass
class SeededWorkspace:
    """The entities of one workspace, by kind."""

    workspace_id: str
    name: str
    users: list[dict] = field(default_factory=list)
    clients: list[dict] = field(default_factory=list)
    projects: list[dict] = field(default_factory=list)
    tasks: dict[str, list[dict]] = field(default_factory=dict)  # project id -> tasks
    tags: list[dict] = field(default_factory=list)
    time_entries: dict[str, list[dict]] = field(default_factory=dict)  # user id -> entries

    @property
    def owner(self) -> dict:
        """The workspace owner (the first user)."""
        return self.users[0]

    @property
    def member(self) -> dict:
        """A regular member (the second user)."""
        return self.users[1]

    def collections(self) -> dict[str, list[dict] | dict]:
        """Collection path below the workspace -> items, as ``FakeClockify.seed`` takes them."""
        seeded: dict[str, list[dict] | dict] = {
            "": {"id": self.workspace_id, "name": self.name, "memberships": []},
            "users": self.users, "clients": self.clients, "projects": self.projects, "tags": self.tags,
        }
        seeded.update({f"projects/{pid}/tasks": tasks for pid, tasks in self.tasks.items()})
        seeded.update({f"user/{uid}/time-entries": entries for uid, entries in self.time_entries.items()})
        return seeded

    def counts(self) -> dict[str, int]:
        """How many entities of each kind."""
        return {"users": len(self.users), "clients": len(self.clients), "projects": len(self.projects),
                "tasks": sum(map(len, self.tasks.values())), "tags": len(self.tags),
                "time-entries": sum(map(len, self.time_entries.values()))}


def build_workspace(workspace_id: str, *, name: str = "Sandbox workspace", seed: int = 13,
                    today: datetime | None = None) -> SeededWorkspace:
    """Six users, three clients, twenty projects of five tasks, ten tags and 200 time entries over
    the ``DAYS`` days before ``today`` (default: now)."""
    rng = random.Random(seed)
    today = (today or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    workspace = SeededWorkspace(workspace_id, name)
    for index, full_name in enumerate(USER_NAMES):
        user_id = entity_id(workspace_id, "user", str(index))
        email = full_name.lower().replace(" ", ".") + "@example.com"
        workspace.users.append({"id": user_id, "name": full_name, "email": email, "status": "ACTIVE",
                                "activeWorkspace": workspace_id, "defaultWorkspace": workspace_id,
                                "profilePicture": "", "memberships": [], "settings": {"timeZone": "UTC"}})
    for index, client_name in enumerate(CLIENT_NAMES):
        workspace.clients.append({"id": entity_id(workspace_id, "client", str(index)), "name": client_name,
                                  "workspaceId": workspace_id, "archived": False, "email": None, "note": ""})
    for index, project_name in enumerate(PROJECT_NAMES):
        client = workspace.clients[index % len(workspace.clients)]
        project_id = entity_id(workspace_id, "project", str(index))
        workspace.projects.append({
            "id": project_id, "name": project_name, "clientId": client["id"], "clientName": client["name"],
            "workspaceId": workspace_id, "billable": index % 3 != 2, "color": COLORS[index % len(COLORS)],
            "archived": False, "public": index % 2 == 0, "template": False, "note": "",
            "duration": "PT0S", "memberships": [], "hourlyRate": {"amount": 5000 + 500 * (index % 5),
                                                                  "currency": "USD"}})
        workspace.tasks[project_id] = [
            {"id": entity_id(project_id, "task", str(t)), "name": task_name, "projectId": project_id,
             "assigneeIds": [], "status": "ACTIVE", "estimate": "PT0S", "billable": True, "duration": "PT0S"}
            for t, task_name in enumerate(TASK_NAMES)]
    for index, tag_name in enumerate(TAG_NAMES):
        workspace.tags.append({"id": entity_id(workspace_id, "tag", str(index)), "name": tag_name,
                               "workspaceId": workspace_id, "archived": False})
    workspace.time_entries = {user["id"]: [] for user in workspace.users}
    for index in range(TIME_ENTRY_COUNT):
        user = workspace.users[index % len(workspace.users)]
        project = rng.choice(workspace.projects)
        task = rng.choice(workspace.tasks[project["id"]])
        start = today - timedelta(days=rng.randrange(DAYS), hours=-rng.randrange(8, 17),
                                  minutes=-rng.choice((0, 15, 30, 45)))
        end = start + timedelta(minutes=rng.choice((30, 45, 60, 90, 120, 180)))
        minutes = int((end - start).total_seconds() // 60)
        workspace.time_entries[user["id"]].append({
            "id": entity_id(workspace_id, "time-entry", str(index)),
            "description": f"{task['name']} on {project['name']}",
            "userId": user["id"], "workspaceId": workspace_id, "projectId": project["id"], "taskId": task["id"],
            "tagIds": [rng.choice(workspace.tags)["id"]], "billable": project["billable"], "type": "REGULAR",
            "isLocked": False, "customFieldValues": [],
            "timeInterval": {"start": _iso(start), "end": _iso(end), "duration": f"PT{minutes}M"}})
    for entries in workspace.time_entries.values():
        entries.sort(key=lambda entry: entry["timeInterval"]["start"], reverse=True)
    return workspace


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
