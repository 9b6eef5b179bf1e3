"""The log scan itself finds what it looks for (tests/logscan.py)."""

import logging

from tests.logscan import LogScan, scan


def test_it_finds_recorded_secrets_and_hashes_in_log_files(tmp_path):
    scanning = LogScan()
    scanning.add_fields({"user": {"refresh": "abc.1.0123456789abcdef"}, "t": "short"})
    log = tmp_path / "server.log"
    log.write_text("GET /user 200\nrefresh abc.1.0123456789abcdef\n")
    scanning.logs.append(log)
    assert scanning.findings() == [f"{log}: a secret starting 'abc.'"]
    log.write_text("password=argon2$argon2id$v=19$m=19456\n")
    assert scanning.findings() == [f"{log}: a password hash ($argon2)"]


def test_this_process_log_lines_are_captured_for_the_session_scan():
    logging.getLogger("tests.logscan").warning("a line to scan")
    assert scan.lines[-1] == "WARNING tests.logscan a line to scan"
