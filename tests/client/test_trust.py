"""Signed packages verified on install: every unsigned, wrongly signed or altered package is refused
under ``--trust`` (one line, exit 2, nothing installed) and every correctly signed one is accepted.

Packages are small real ones (``fake_package``) published to a folder registry through the CLI.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fake_package import rewrite_manifest, write_package
from trust_keys import KeyPair, assert_refused, cache_entries, cli, make_key

from nnparts.client.resolve import read_lockfile
from nnparts.client.trust import fingerprint, load_policy, load_public_key, sign_package
from nnparts.client.trust.verify import verify_signature
from nnparts.schemas.errors import TrustError
from nnparts.schemas.integrity import pretty_json, sha256_file
from nnparts.schemas.package import manifest_sha256
from nnparts.schemas.signature import SIGNATURE_NAME, claimed_fingerprint


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    folder = tmp_path_factory.mktemp("keys")
    return {
        "alice": make_key(folder, "alice"),
        "bob": make_key(folder, "bob"),
        "carol": make_key(folder, "carol", ec.SECP384R1()),
    }


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("NNPARTS_HOME", str(h))
    return h


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "registry"


def _pkg(tmp: Path, name: str = "cat", *, seed: int = 0, module_id: str | None = None) -> Path:
    return write_package(
        tmp / "src" / f"{name}-{seed}", module_id=module_id or f"zoo/{name}", classes=[(name, [])], seed=seed
    )


def _publish(package: Path, registry: Path) -> None:
    result = cli("publish", package, "--registry", registry)
    assert result.exit_code == 0, result.output


def _install(registry: Path, lock: Path, *trust: Path, classes: tuple[str, ...] = ("cat",)):  # type: ignore[no-untyped-def]
    return cli(
        "install",
        *classes,
        "--registry",
        registry,
        "--lock",
        lock,
        *(a for k in trust for a in ("--trust", k)),
    )


# -- the packages a registry may hand out: each builder returns a folder to publish ---------------

Builder = Callable[[Path, dict[str, KeyPair]], Path]


def unsigned(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    return _pkg(tmp)


def signed_by_bob(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    package = _pkg(tmp)
    sign_package(package, keys["bob"].private)
    return package


def manifest_edited_after_signing(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    package = _pkg(tmp)
    sign_package(package, keys["alice"].private)
    rewrite_manifest(package, license="Proprietary")  # hashes stay consistent: only the signature knows
    return package


def weights_swapped_after_signing(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    package = _pkg(tmp)
    sign_package(package, keys["alice"].private)
    evil = _pkg(tmp, seed=9)  # same id and version, other weights, a consistent manifest
    for name in ("manifest.json", "weights.safetensors"):
        shutil.copyfile(evil / name, package / name)
    return package


def signature_of_another_package(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    other = _pkg(tmp, "dog", seed=3)
    sign_package(other, keys["alice"].private)
    package = _pkg(tmp)
    shutil.copyfile(other / SIGNATURE_NAME, package / SIGNATURE_NAME)
    return package


def garbage_signature(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    package = _pkg(tmp)
    (package / SIGNATURE_NAME).write_bytes(b'{"not": "a signature"}')
    return package


def forged_signature_bytes(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    package = _pkg(tmp)
    sign_package(package, keys["alice"].private)
    doc = json.loads((package / SIGNATURE_NAME).read_bytes())
    sig = doc["dsseEnvelope"]["signatures"][0]["sig"]
    doc["dsseEnvelope"]["signatures"][0]["sig"] = ("A" if sig[0] != "A" else "B") + sig[1:]
    (package / SIGNATURE_NAME).write_bytes(json.dumps(doc).encode())
    return package


def signature_exempting_the_weights(tmp: Path, keys: dict[str, KeyPair]) -> Path:
    """A valid alice signature whose payload leaves the weights unhashed (made with model-signing)."""
    from model_signing import hashing, signing

    package = _pkg(tmp)
    config = hashing.Config().set_ignored_paths(
        paths=[SIGNATURE_NAME, "weights.safetensors", "manifest.json"], ignore_git_paths=False
    )
    signing.Config().set_hashing_config(config).use_elliptic_key_signer(
        private_key=keys["alice"].private
    ).sign(package, tmp / "exempt.sig")
    shutil.copyfile(tmp / "exempt.sig", package / SIGNATURE_NAME)
    return package


REFUSED: list[tuple[Builder, str]] = [
    (unsigned, "is unsigned"),
    (signed_by_bob, "which is not trusted here"),
    (manifest_edited_after_signing, "does not match the package"),
    (weights_swapped_after_signing, "does not match the package"),
    (signature_of_another_package, "does not match the package"),
    (garbage_signature, "not a readable key-based model-signing bundle"),
    (forged_signature_bytes, "does not match the package"),
    (signature_exempting_the_weights, "its signature leaves manifest.json, weights.safetensors unsigned"),
]


@pytest.mark.parametrize(("build", "why"), REFUSED, ids=[b.__name__ for b, _ in REFUSED])
def test_refused_under_trust_and_nothing_installed(
    build: Builder, why: str, keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    _publish(build(tmp_path, keys), registry)
    lock = tmp_path / "nnparts.lock"
    assert_refused(_install(registry, lock, keys["alice"].public), "zoo/cat@1.0.0", why)
    assert cache_entries(home) == [] and not lock.exists()


def test_a_registry_that_alters_a_signed_package_is_refused(
    keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    """The registry edits the stored manifest and re-pins its index entry: hashes agree, the signature does not."""
    package = _pkg(tmp_path)
    sign_package(package, keys["alice"].private)
    _publish(package, registry)
    stored = registry / "packages" / "zoo" / "cat@1.0.0"
    rewrite_manifest(stored, license="Proprietary")
    index = json.loads((registry / "index" / "entries.json").read_bytes())
    index["entries"][0]["manifest_sha256"] = manifest_sha256(stored)
    (registry / "index" / "entries.json").write_bytes(pretty_json(index))
    assert_refused(_install(registry, tmp_path / "l", keys["alice"].public), "does not match the package")
    assert cache_entries(home) == []
    assert _install(registry, tmp_path / "l").exit_code == 0  # without --trust the hashes alone pass


def test_one_refusal_installs_none_of_the_batch(
    keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    good = _pkg(tmp_path)
    sign_package(good, keys["alice"].private)
    _publish(good, registry)
    _publish(_pkg(tmp_path, "dog", seed=3), registry)  # unsigned
    lock = tmp_path / "nnparts.lock"
    assert_refused(_install(registry, lock, keys["alice"].public, classes=("cat", "dog")), "zoo/dog@1.0.0")
    assert cache_entries(home) == [] and not lock.exists()


# -- accepted: 0 false refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("signer", "trusted"),
    [("alice", ["alice"]), ("alice", ["bob", "alice"]), ("carol", ["carol"]), ("bob", ["alice", "bob"])],
)
def test_signed_by_a_trusted_key_is_installed_and_locked(
    signer: str, trusted: list[str], keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    package = _pkg(tmp_path)
    expected = sign_package(package, keys[signer].private)
    assert expected.fingerprint == load_public_key(keys[signer].public).fingerprint
    _publish(package, registry)
    lock = tmp_path / "nnparts.lock"
    result = _install(registry, lock, *(keys[k].public for k in trusted))
    assert result.exit_code == 0, result.output
    assert "1 signatures verified" in result.stdout
    (locked,) = read_lockfile(lock).modules
    assert locked.signer is not None and locked.signer.fingerprint == expected.fingerprint
    installed = home / "installed" / locked.manifest_sha256
    assert cache_entries(home) == [locked.manifest_sha256] and (installed / SIGNATURE_NAME).is_file()
    # the frozen install verifies again, with the lock's key alone or with --trust
    assert cli("install", "--frozen", "--lock", lock).exit_code == 0
    assert cli("install", "--frozen", "--lock", lock, "--trust", keys[signer].public).exit_code == 0


def test_resigned_after_an_edit_is_accepted(
    keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    package = _pkg(tmp_path)
    sign_package(package, keys["alice"].private)
    rewrite_manifest(package, license="Apache-2.0")
    sign_package(package, keys["alice"].private)  # replaces package.sig atomically
    _publish(package, registry)
    assert _install(registry, tmp_path / "l", keys["alice"].public).exit_code == 0


def test_signing_later_reaches_an_earlier_unsigned_install(
    keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    """Installed unsigned first; the publisher signs the same bytes: --trust takes the registry's signature."""
    package = _pkg(tmp_path)
    _publish(package, registry)
    assert _install(registry, tmp_path / "l0").exit_code == 0
    assert_refused(_install(registry, tmp_path / "l1", keys["alice"].public), "is unsigned")
    result = cli("publish", package, "--registry", registry, "--sign-key", keys["alice"].private)
    assert result.exit_code == 0 and result.stdout.startswith("signed zoo/cat@1.0.0 with key sha256:")
    assert _install(registry, tmp_path / "l2", keys["alice"].public).exit_code == 0
    (sha,) = cache_entries(home)
    assert (home / "installed" / sha / SIGNATURE_NAME).is_file()


# -- trust.toml: rules per registry or namespace ------------------------------------------------------


def _policy(home: Path, text: str, keys: dict[str, KeyPair]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    for name, pair in keys.items():
        shutil.copyfile(pair.public, home / f"{name}.pub.pem")
    (home / "trust.toml").write_text(text)


def test_trust_toml_rules(keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path) -> None:
    cat = _pkg(tmp_path)
    sign_package(cat, keys["alice"].private)
    _publish(cat, registry)
    _publish(_pkg(tmp_path, "dog", seed=3, module_id="pets/dog"), registry)  # unsigned, other namespace
    _policy(home, '[[rule]]\nnamespace = "zoo"\nkeys = ["alice.pub.pem"]\n', keys)
    result = _install(registry, tmp_path / "l", classes=("cat", "dog"))
    assert result.exit_code == 0, result.output  # zoo/cat verified, pets/dog not covered
    signers = {m.id: m.signer for m in read_lockfile(tmp_path / "l").modules}
    assert signers["zoo/cat"] is not None and signers["pets/dog"] is None

    _policy(home, f'[[rule]]\nregistry = "{registry}"\nkeys = ["bob.pub.pem"]\n', keys)
    assert_refused(_install(registry, tmp_path / "l2"), "zoo/cat@1.0.0", "not trusted")

    _policy(home, '[[rule]]\nnamespace = "zoo"\nkeys = ["bob.pub.pem"]\n', keys)  # rules narrow --trust
    assert_refused(
        _install(registry, tmp_path / "l3", keys["alice"].public), "no key is trusted by every rule"
    )

    _policy(home, '[[rule]]\nnamespace = "zoo"\nkeys = ["alice.pub.pem", "bob.pub.pem"]\n', keys)
    assert _install(registry, tmp_path / "l4", keys["alice"].public).exit_code == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[[rule]\n", "not valid TOML"),
        ("[[rule]]\nkeys = []\n", "keys must be a non-empty list"),
        ('[[rule]]\nkeys = ["alice.pub.pem"]\nscope = "x"\n', "unknown fields ['scope']"),
        ('[[rule]]\nkeys = ["missing.pem"]\n', "no such file"),
        ('[[rule]]\nkeys = ["alice.pem"]\n', "not a PEM public key"),
        ('default = "deny"\n', "expected only [[rule]] tables"),
    ],
)
def test_a_malformed_trust_toml_is_one_line(
    text: str, fragment: str, keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path
) -> None:
    _policy(home, text, keys)
    shutil.copyfile(keys["alice"].private, home / "alice.pem")
    assert_refused(_install(registry, tmp_path / "l"), fragment)


# -- frozen installs verify again -------------------------------------------------------------------


@pytest.fixture
def locked(keys: dict[str, KeyPair], tmp_path: Path, home: Path, registry: Path) -> Path:
    """zoo/cat signed by alice, installed under --trust alice; returns the lock."""
    package = _pkg(tmp_path)
    sign_package(package, keys["alice"].private)
    _publish(package, registry)
    lock = tmp_path / "nnparts.lock"
    assert _install(registry, lock, keys["alice"].public).exit_code == 0
    return lock


def test_frozen_refuses_a_package_now_signed_by_another_key(
    locked: Path, keys: dict[str, KeyPair], home: Path, registry: Path
) -> None:
    (sha,) = cache_entries(home)
    shutil.rmtree(home / "installed" / sha)
    stored = registry / "packages" / "zoo" / "cat@1.0.0"
    sign_package(stored, keys["bob"].private)  # the registry re-signs with a key the user also trusts
    for extra in ((), ("--trust", keys["alice"].public, "--trust", keys["bob"].public)):
        result = cli("install", "--frozen", "--lock", locked, "--registry", registry, *extra)
        assert_refused(result, "now signed by key", "the lock pins")
    assert cache_entries(home) == []
    (stored / SIGNATURE_NAME).unlink()
    assert_refused(cli("install", "--frozen", "--lock", locked, "--registry", registry), "is unsigned")


def test_frozen_refuses_an_edited_lock_signer(locked: Path, keys: dict[str, KeyPair]) -> None:
    doc = json.loads(locked.read_bytes())
    doc["modules"][0]["signer"]["public_key"] = keys["bob"].public.read_text()
    locked.write_bytes(pretty_json(doc))
    assert_refused(cli("install", "--frozen", "--lock", locked), "the lockfile was edited")


def test_frozen_refuses_a_cached_copy_whose_signature_was_replaced(
    locked: Path, keys: dict[str, KeyPair], home: Path
) -> None:
    (sha,) = cache_entries(home)
    bob_signed = write_package(home.parent / "bob-copy", module_id="zoo/cat", classes=[("cat", [])])
    sign_package(bob_signed, keys["bob"].private)
    shutil.copyfile(bob_signed / SIGNATURE_NAME, home / "installed" / sha / SIGNATURE_NAME)
    assert_refused(cli("install", "--frozen", "--lock", locked), "now signed by key")


# -- signing, show, and the verifier's API ------------------------------------------------------------


def test_sign_command_and_show(keys: dict[str, KeyPair], tmp_path: Path, registry: Path) -> None:
    package = _pkg(tmp_path)
    result = cli("sign", package, "--key", keys["alice"].private)
    assert result.exit_code == 0, result.output
    alice = load_public_key(keys["alice"].public)
    assert alice.fingerprint in result.stdout
    assert claimed_fingerprint((package / SIGNATURE_NAME).read_bytes()) == alice.fingerprint
    assert fingerprint(alice.pem) == alice.fingerprint
    _publish(package, registry)
    _publish(_pkg(tmp_path, "dog", seed=3), registry)
    fields = dict(
        line.split(None, 1) for line in cli("show", "zoo/cat", "--registry", registry).stdout.splitlines()
    )
    assert fields["signature"].startswith(f"signed by key {alice.fingerprint}")
    unsigned_fields = cli("show", "zoo/dog", "--registry", registry).stdout
    assert "signature  unsigned" in unsigned_fields
    doc = json.loads(cli("show", "zoo/cat", "--registry", registry, "--json").stdout)
    assert doc["signature"] == {"signed": True, "key": alice.fingerprint}


def test_sign_refusals(keys: dict[str, KeyPair], tmp_path: Path) -> None:
    package = _pkg(tmp_path)
    (package / "notes.txt").write_text("not listed")
    assert_refused(cli("sign", package, "--key", keys["alice"].private), "notes.txt")
    (package / "notes.txt").unlink()
    assert_refused(cli("sign", package, "--key", keys["alice"].public), "not a usable PEM private key")
    assert_refused(cli("sign", tmp_path / "missing", "--key", keys["alice"].private), "no such file")
    assert not (package / SIGNATURE_NAME).exists()
    result = cli("install", "cat", "--trust", keys["alice"].private)
    assert_refused(result, "not a PEM public key")


def test_verify_signature_api(keys: dict[str, KeyPair], tmp_path: Path) -> None:
    package = _pkg(tmp_path)
    signer = sign_package(package, keys["alice"].private)
    alice, bob = load_public_key(keys["alice"].public), load_public_key(keys["bob"].public)
    sig = package / SIGNATURE_NAME
    assert verify_signature(package, sig, [bob, alice], ref="zoo/cat@1.0.0") == signer
    (package / "graph.json").write_bytes((package / "graph.json").read_bytes() + b" ")
    with pytest.raises(TrustError, match="does not match"):
        verify_signature(package, sig, [alice], ref="zoo/cat@1.0.0")
    assert sha256_file(sig)  # the signature itself is untouched
    policy = load_policy(tmp_path / "no-home", [keys["alice"].public])
    assert len(policy.rules) == 1 and policy.rules[0].keys == (alice,)
