"""KRaft cluster ids the launcher makes are ones Kafka's storage tool accepts."""

from __future__ import annotations

import base64
import uuid
from unittest import mock

from tierline_launcher import kafka


def test_cluster_id_never_starts_with_a_dash_which_the_storage_tool_reads_as_an_option() -> None:
    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))
    plain = uuid.UUID(int=1)
    with mock.patch.object(kafka.uuid, "uuid4", side_effect=[dash_first, dash_first, plain]):
        cluster_id = kafka._cluster_id()
    assert cluster_id == base64.urlsafe_b64encode(plain.bytes).decode().rstrip("=")
    assert len(cluster_id) == 22
