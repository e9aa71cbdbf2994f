"""`sdk keys create` and `sdk sign`: sign artifact manifests so devices load only models from trusted publishers."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from sdk.cli._base import console

app = typer.Typer(
    help="Signing keys for manifests. A device with AIAAS_TRUSTED_KEYS set loads only models signed by those keys.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    out: Path = typer.Option(Path("."), "--out", "-o", help="Folder for NAME.key (private) and NAME.pub (public)."),
    name: str = typer.Option("aiaas", help="File name stem of the key pair."),
) -> None:
    """Create an Ed25519 key pair: NAME.key (private, mode 0600: keep it out of git) and NAME.pub.

    Sign with the private key (sdk sign, sdk compile --sign-key); give devices the public key
    (AIAAS_TRUSTED_KEYS=/path/NAME.pub, or the printed ed25519:BASE64 line where a file is awkward, e.g. in a
    function's environment).

    Example: sdk keys create --out ~/.aiaas-keys --name release
    """
    from sdk.artifacts.signing import create_keys, public_key_line

    private, public, kid = create_keys(out, name)
    console.print(f"key {kid}: private {escape(str(private))} (mode 0600), public {escape(str(public))}")
    console.print(f"devices that should trust it: AIAAS_TRUSTED_KEYS={escape(str(public.resolve()))}")
    console.print(f"or inline (a function's environment): AIAAS_TRUSTED_KEYS={public_key_line(public)}")


def sign(
    folder: Path = typer.Argument(..., help="Artifact folder (holds manifest.json).", show_default=False),
    key: Path = typer.Option(..., "--key", help="Private key from `sdk keys create`.", show_default=False),
) -> None:
    """Sign an artifact folder's manifest.json in place (after checking every file's sha256).

    The signature covers the manifest, which covers every file by sha256: one signature vouches for the folder,
    its parity results and its privacy floor. Re-signing replaces an earlier signature.

    Example: sdk sign out/digits-cnn --key ~/.aiaas-keys/release.key
    """
    from sdk.artifacts import read_manifest, verify_artifact
    from sdk.artifacts.signing import sign_folder

    manifest = read_manifest(folder)
    verify_artifact(folder, manifest)
    kid = sign_folder(folder, key)
    console.print(f"[bold green]{manifest.ref}[/] signed by key {kid}: {escape(str(folder / 'manifest.json'))}")
