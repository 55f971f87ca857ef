"""file:// targets: certificates at rest in PEM, DER and PKCS#12 files and folders of them,
written by the world's CA into a temporary folder, analysed as served ones are."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, NoEncryption, pkcs12

from ronda.errors import UsageError
from ronda.probes.file import MAX_FILES
from ronda.target import parse_target
from ronda.world.pki import Leaf, LocalPKI
from tests.support import ronda_check

CRITICAL, WARNING, OK = 2, 1, 0


def url(path: Path, query: str = "") -> str:
    return f"file://{path}" + (f"?{query}" if query else "")


def codes(items) -> list[str]:
    return [item.code for item in items]


def p12(leaf: Leaf, password: bytes | None) -> bytes:
    encryption = BestAvailableEncryption(password) if password else NoEncryption()
    return pkcs12.serialize_key_and_certificates(b"svc", leaf.key, leaf.cert, list(leaf.chain), encryption)


def ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


# --- one file ------------------------------------------------------------------------------------


def test_a_good_pem_file_is_up_with_its_certificate_read(tmp_path, pki, check):
    leaf = pki.leaf("svc.test")
    path = tmp_path / "site.pem"
    path.write_bytes(leaf.chain_pem)
    verdict = check(url(path))
    assert verdict.status == "up", verdict.findings
    assert verdict.cause is None and not verdict.warnings
    assert verdict.addresses == (str(path),)
    [cert] = verdict.certificates
    assert (cert.host, cert.address, cert.port) == (str(path), str(path), 0)
    assert cert.subject == "CN=svc.test"
    assert cert.sans == ("svc.test",)
    assert [entry.subject for entry in cert.chain] == [pki.intermediate.cert.subject.rfc4514_string()]
    assert cert.days_left == pytest.approx(89, abs=1)


def test_an_expired_certificate_file_is_down_with_cert_expired(tmp_path, pki, check):
    path = tmp_path / "old.pem"
    path.write_bytes(pki.leaf("svc.test", valid_from=ago(100), valid_until=ago(10)).cert_pem)
    verdict = check(url(path))
    assert verdict.status == "down"
    assert verdict.cause == "cert_expired"
    [finding] = verdict.findings
    assert (finding.host, finding.address, finding.port) == (str(path), str(path), 0)
    assert str(path) in finding.detail and "expired 10.0 days ago" in finding.detail
    assert verdict.certificates[0].problems == ("cert_expired",)


def test_a_certificate_not_valid_yet_is_down_with_cert_not_yet_valid(tmp_path, pki, check):
    path = tmp_path / "next.pem"
    path.write_bytes(pki.leaf("svc.test", valid_from=ago(-3), valid_until=ago(-93)).cert_pem)
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "cert_not_yet_valid")


def test_a_certificate_expiring_in_5_days_of_90_is_up_with_cert_expiring(tmp_path, pki, check):
    path = tmp_path / "site.pem"
    path.write_bytes(pki.leaf("svc.test", valid_from=ago(85), valid_until=ago(-5)).chain_pem)
    verdict = check(url(path))
    assert verdict.status == "up"
    assert "cert_expiring" in codes(verdict.warnings)
    assert "cert_renewal_overdue" in codes(verdict.warnings)
    assert all(w.address == str(path) for w in verdict.warnings)


def test_warn_days_sets_the_expiry_warning_threshold(tmp_path, pki, check):
    path = tmp_path / "site.pem"
    path.write_bytes(pki.leaf("svc.test", valid_from=ago(310), valid_until=ago(-90)).cert_pem)
    assert "cert_expiring" not in codes(check(url(path)).warnings), "90 days left: not below the default 21"
    assert "cert_expiring" in codes(check(url(path), warn_days=100).warnings)


def test_a_leaf_followed_by_an_expired_intermediate_is_down_with_cert_intermediate_expired(tmp_path, pki, check):
    old = pki.root.child("old intermediate", valid_from=ago(400), valid_until=ago(2))
    path = tmp_path / "site.pem"
    path.write_bytes(pki.leaf("svc.test", issuer=old, valid_from=ago(30), valid_until=ago(-60)).chain_pem)
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "cert_intermediate_expired")
    assert "CN=old intermediate" in verdict.findings[0].detail
    [cert] = verdict.certificates
    assert cert.subject == "CN=svc.test", "the leaf is the certificate; the intermediate is its chain"
    assert cert.chain[0].subject.startswith("CN=old intermediate")


def test_a_chain_written_in_any_order_is_still_one_leaf_and_its_chain(tmp_path, pki, check):
    leaf = pki.leaf("svc.test")
    path = tmp_path / "site.pem"
    path.write_bytes(leaf.chain_pem[len(leaf.cert_pem) :] + leaf.cert_pem)
    [cert] = check(url(path)).certificates
    assert cert.subject == "CN=svc.test" and len(cert.chain) == 1


def test_a_bundle_of_unrelated_certificates_has_each_checked_on_its_own(tmp_path, check):
    path = tmp_path / "bundle.pem"
    good, bad = (
        LocalPKI("good root").root.cert,
        LocalPKI("other").root.child("stale", valid_from=ago(9), valid_until=ago(1)).cert,
    )
    path.write_bytes(good.public_bytes(Encoding.PEM) + bad.public_bytes(Encoding.PEM))
    verdict = check(url(path))
    assert len(verdict.certificates) == 2
    assert verdict.cause == "cert_expired"
    assert "CN=stale" in verdict.findings[0].detail


def test_a_weak_key_and_a_sha1_signature_are_found_in_a_file(tmp_path, pki, check):
    path = tmp_path / "weak.pem"
    path.write_bytes(pki.leaf("svc.test", key="rsa1024", sha1=True).cert_pem)
    verdict = check(url(path))
    assert verdict.status == "down"
    assert {"cert_weak_key", "cert_weak_signature"} <= set(codes(verdict.findings))


def test_no_host_name_and_no_trust_are_required_of_a_file(tmp_path, check):
    stranger = LocalPKI("a private CA nobody trusts")
    path = tmp_path / "internal.pem"
    path.write_bytes(stranger.leaf("anything.internal").chain_pem)
    assert check(url(path)).status == "up"


def test_a_der_file_is_read(tmp_path, pki, check):
    path = tmp_path / "site.crt"  # the extension says nothing: the content decides
    path.write_bytes(pki.leaf("svc.test").cert.public_bytes(Encoding.DER))
    verdict = check(url(path))
    assert verdict.status == "up"
    assert verdict.certificates[0].subject == "CN=svc.test"


def test_a_der_certificate_with_an_extension_twice_is_down_naming_it(tmp_path, pki, check):
    # cryptography loads it and refuses it only when its extensions are read: before, the
    # exception left the probe (run_check's catch-all), and in a folder ended the whole read.
    leaf = pki.leaf("svc.test")
    der = leaf.cert.public_bytes(Encoding.DER)
    extended_key_usage, basic_constraints = b"\x06\x03\x55\x1d\x25", b"\x06\x03\x55\x1d\x13"
    assert der.count(extended_key_usage) == 1
    path = tmp_path / "twice.der"
    path.write_bytes(der.replace(extended_key_usage, basic_constraints))
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "file_unreadable")
    assert verdict.summary == (
        f"{path}: a DER certificate that cannot be read: its extensions cannot be read: "
        "Duplicate 2.5.29.19 extension found"
    )


# --- PKCS#12 -------------------------------------------------------------------------------------


def test_a_pkcs12_file_opens_with_the_password_from_password_env(tmp_path, pki, check, monkeypatch):
    path = tmp_path / "site.p12"
    path.write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    monkeypatch.setenv("RONDA_TEST_P12", "s3cret")
    verdict = check(url(path, "password_env=RONDA_TEST_P12"))
    assert verdict.status == "up", verdict.findings
    [cert] = verdict.certificates
    assert cert.subject == "CN=svc.test" and len(cert.chain) == 1


def test_a_pkcs12_file_opens_with_the_password_in_the_url_which_the_verdict_masks(tmp_path, pki, check):
    path = tmp_path / "site.pfx"
    path.write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    verdict = check(url(path, "password=s3cret"))
    assert verdict.status == "up", verdict.findings
    assert "s3cret" not in json.dumps(verdict.to_json())
    assert verdict.target == url(path, "password=***")


def test_a_pkcs12_file_without_a_password_opens_without_one(tmp_path, pki, check):
    path = tmp_path / "site.p12"
    path.write_bytes(p12(pki.leaf("svc.test"), None))
    assert check(url(path)).status == "up"


def test_a_wrong_pkcs12_password_is_down_with_auth_failed(tmp_path, pki, check):
    path = tmp_path / "site.p12"
    path.write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    verdict = check(url(path, "password=wrong"))
    assert (verdict.status, verdict.cause) == ("down", "auth_failed")
    assert "password is wrong" in verdict.summary and str(path) in verdict.summary


def test_a_pkcs12_file_needing_a_password_that_was_not_given_says_how_to_give_it(tmp_path, pki, check):
    path = tmp_path / "site.p12"
    path.write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    verdict = check(url(path))
    assert verdict.cause == "auth_failed"
    assert "password_env=VAR" in verdict.summary


def test_a_password_env_naming_an_unset_variable_says_so(tmp_path, pki, check, monkeypatch):
    path = tmp_path / "site.p12"
    path.write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    monkeypatch.delenv("RONDA_TEST_UNSET", raising=False)
    verdict = check(url(path, "password_env=RONDA_TEST_UNSET"))
    assert verdict.cause == "auth_failed"
    assert "RONDA_TEST_UNSET is not set" in verdict.summary


# --- folders -------------------------------------------------------------------------------------


def test_a_folder_with_one_expired_certificate_among_good_ones_is_degraded_naming_the_file(tmp_path, pki, check):
    (tmp_path / "a.pem").write_bytes(pki.leaf("a.test").chain_pem)
    (tmp_path / "b.der").write_bytes(pki.leaf("b.test").cert.public_bytes(Encoding.DER))
    (tmp_path / "c.pem").write_bytes(pki.leaf("c.test", valid_from=ago(100), valid_until=ago(1)).cert_pem)
    verdict = check(url(tmp_path))
    assert (verdict.status, verdict.cause) == ("degraded", "cert_expired")
    [finding] = verdict.findings
    assert finding.address == str(tmp_path / "c.pem")
    assert finding.host == str(tmp_path)
    assert "c.pem" in verdict.summary and "2 of 3" in verdict.summary
    assert sorted(c.subject for c in verdict.certificates) == ["CN=a.test", "CN=b.test", "CN=c.test"]
    assert {c.address for c in verdict.certificates} == {str(tmp_path / n) for n in ("a.pem", "b.der", "c.pem")}


def test_a_folder_where_every_file_is_expired_is_down(tmp_path, pki, check):
    for name in ("a.pem", "b.pem"):
        (tmp_path / name).write_bytes(pki.leaf("x.test", valid_from=ago(100), valid_until=ago(1)).cert_pem)
    assert check(url(tmp_path)).status == "down"


def test_files_in_a_folder_that_are_not_certificates_are_skipped_not_errors(tmp_path, pki, check):
    leaf = pki.leaf("svc.test")
    (tmp_path / "site.pem").write_bytes(leaf.cert_pem)
    (tmp_path / "site.key").write_bytes(leaf.key_pem)
    (tmp_path / "README.txt").write_text("certificates for svc.test, renewed by hand\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "old.pem").write_bytes(pki.leaf("old.test", valid_until=ago(1), valid_from=ago(9)).cert_pem)
    verdict = check(url(tmp_path))
    assert verdict.status == "up", verdict.findings
    assert verdict.addresses == (str(tmp_path / "site.pem"),), "only files that hold certificates count"
    assert [c.subject for c in verdict.certificates] == ["CN=svc.test"], "the folder is not read recursively"


def test_a_folder_without_any_certificate_is_down_and_says_what_it_skipped(tmp_path, check):
    (tmp_path / "README.txt").write_text("nothing here\n")
    (tmp_path / "notes.md").write_text("# notes\n")
    verdict = check(url(tmp_path))
    assert (verdict.status, verdict.cause) == ("down", "no_certificate")
    assert "0 certificate files read, 2 skipped as holding no certificate (README.txt, notes.md)" in verdict.summary


def test_a_link_to_a_file_already_read_is_not_read_twice(tmp_path, pki, check):
    (tmp_path / "site.pem").write_bytes(pki.leaf("svc.test").cert_pem)
    os.symlink("site.pem", tmp_path / "0a1b2c3d.0")  # as OpenSSL's c_rehash links them
    verdict = check(url(tmp_path))
    assert verdict.addresses == (str(tmp_path / "site.pem"),)
    assert len(verdict.certificates) == 1


def test_a_pkcs12_file_with_a_wrong_password_in_a_folder_is_a_finding_naming_it(tmp_path, pki, check):
    (tmp_path / "good.pem").write_bytes(pki.leaf("svc.test").cert_pem)
    (tmp_path / "store.p12").write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    verdict = check(url(tmp_path, "password=other"))
    assert (verdict.status, verdict.cause) == ("degraded", "auth_failed")
    assert verdict.findings[0].address == str(tmp_path / "store.p12")


def test_a_folder_of_more_than_the_limit_is_read_in_part_and_says_so(tmp_path, pki, check):
    (tmp_path / "0-site.pem").write_bytes(pki.leaf("svc.test").cert_pem)
    for n in range(MAX_FILES):
        (tmp_path / f"note-{n:04}.txt").write_text("not a certificate\n")
    verdict = check(url(tmp_path))
    assert verdict.status == "up"
    assert codes(verdict.warnings) == ["file_limit_reached"]
    assert f"more than {MAX_FILES} files" in verdict.warnings[0].detail
    assert "1 left unread" in verdict.warnings[0].detail


def test_a_folder_read_past_the_deadline_stops_and_says_so(tmp_path, pki, check):
    (tmp_path / "site.pem").write_bytes(pki.leaf("svc.test").cert_pem)
    verdict = check(url(tmp_path), timeout=1e-9)  # spent before the first file is opened
    assert (verdict.status, verdict.cause) == ("down", "file_unreadable")
    assert "reading stopped at the check's deadline (0 certificate files read)" in verdict.summary


# --- bad input -----------------------------------------------------------------------------------


def test_a_missing_file_is_down_with_file_unreadable(tmp_path, check):
    path = tmp_path / "nowhere.pem"
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "file_unreadable")
    assert verdict.summary == f"{path}: No such file or directory"


def test_a_path_through_a_file_is_down_with_file_unreadable(tmp_path, pki, check):
    # Root reads any file whatever its mode, so unreadability is shown by a path that
    # cannot exist: a "folder" that is a file.
    parent = tmp_path / "site.pem"
    parent.write_bytes(pki.leaf("svc.test").cert_pem)
    verdict = check(url(parent / "inner.pem"))
    assert (verdict.status, verdict.cause) == ("down", "file_unreadable")
    assert "Not a directory" in verdict.summary


def test_a_named_pipe_is_not_waited_on(tmp_path, check):
    path = tmp_path / "pipe.pem"
    os.mkfifo(path)
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "file_unreadable")
    assert "not a regular file" in verdict.summary


def test_a_file_with_no_certificate_is_down_with_no_certificate(tmp_path, check):
    path = tmp_path / "site.pem"
    path.write_text("hello\n")
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "no_certificate")


def test_a_file_with_only_a_private_key_is_down_with_no_certificate_naming_only_the_kind(tmp_path, pki, check):
    path = tmp_path / "site.pem"
    path.write_bytes(pki.leaf("svc.test").key_pem)
    verdict = check(url(path))
    assert (verdict.status, verdict.cause) == ("down", "no_certificate")
    assert "only PRIVATE KEY" in verdict.summary


def test_a_damaged_certificate_in_a_pem_file_is_file_unreadable(tmp_path, pki, check):
    path = tmp_path / "site.pem"
    good = pki.leaf("svc.test").cert_pem
    path.write_bytes(good + b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")
    verdict = check(url(path))
    assert verdict.cause == "file_unreadable"
    assert "1 of its 2 PEM certificates cannot be parsed" in verdict.summary
    assert len(verdict.certificates) == 1, "the good one is still read"


def test_the_private_key_in_a_file_is_never_in_the_verdict(tmp_path, pki, check):
    leaf = pki.leaf("svc.test", valid_from=ago(100), valid_until=ago(1))  # a problem, so details are written
    path = tmp_path / "site.pem"
    path.write_bytes(leaf.key_pem + leaf.chain_pem)
    verdict = check(url(path))
    assert verdict.cause == "cert_expired"
    dumped = json.dumps(verdict.to_json())
    key_lines = [line for line in leaf.key_pem.decode().splitlines() if not line.startswith("-----")]
    assert key_lines and not any(line in dumped for line in key_lines)


def test_a_file_url_parses_to_a_path_without_host_or_port():
    target = parse_target("file:///etc/ssl/my%20certs/site.p12?password_env=P12")
    assert (target.scheme, target.host, target.port) == ("file", "", 0)
    assert target.path == "/etc/ssl/my certs/site.p12"
    assert target.params == {"password_env": "P12"}
    assert parse_target("file://localhost/etc/ssl/site.pem").path == "/etc/ssl/site.pem"


@pytest.mark.parametrize("bad", ["file://server/etc/ssl/site.pem", "file:site.pem", "file://"])
def test_a_file_url_with_a_host_or_a_relative_path_is_a_usage_error_naming_it(bad):
    with pytest.raises(UsageError, match="file://") as caught:
        parse_target(bad)
    assert repr(bad) in str(caught.value)


# --- the command line ----------------------------------------------------------------------------


def test_the_command_line_exits_by_the_state_of_the_file(tmp_path, pki, repo_root):
    good, expired, expiring = tmp_path / "good.pem", tmp_path / "expired.pem", tmp_path / "expiring.pem"
    good.write_bytes(pki.leaf("svc.test").chain_pem)
    expired.write_bytes(pki.leaf("svc.test", valid_from=ago(100), valid_until=ago(1)).cert_pem)
    expiring.write_bytes(pki.leaf("svc.test", valid_from=ago(85), valid_until=ago(-5)).cert_pem)
    for path, code, status in ((good, OK, "up"), (expiring, WARNING, "up"), (expired, CRITICAL, "down")):
        run = ronda_check(repo_root, url(path), "--json")
        assert run.returncode == code, run.stdout + run.stderr
        assert json.loads(run.stdout)["status"] == status
    run = ronda_check(repo_root, url(expired))
    assert run.stdout.startswith("RONDA CRITICAL - cert_expired: ")


def test_the_command_line_reads_a_pkcs12_password_from_the_environment(tmp_path, pki, repo_root):
    path = tmp_path / "site.p12"
    path.write_bytes(p12(pki.leaf("svc.test"), b"s3cret"))
    run = ronda_check(repo_root, url(path, "password_env=SITE_P12"), "--json", env={"SITE_P12": "s3cret"})
    assert run.returncode == OK, run.stdout + run.stderr
    assert json.loads(run.stdout)["certificates"][0]["subject"] == "CN=svc.test"


def test_the_command_line_calls_a_hostful_file_url_bad_input(repo_root):
    run = ronda_check(repo_root, "file://server/etc/ssl/site.pem")
    assert run.returncode == 3
    assert run.stdout.startswith("RONDA UNKNOWN - 'file://server/etc/ssl/site.pem'")
