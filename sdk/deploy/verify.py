"""The gate before anything leaves the machine: a deployable artifact has a valid manifest, files that match every
sha256, and a parity result for each model file that passed (or failed with a recorded waiver)."""

from __future__ import annotations

from pathlib import Path

from sdk.artifacts.integrity import verify_artifact
from sdk.artifacts.manifest import Manifest, read_manifest
from sdk.errors import ManifestError, ParityFailure


def verify_for_deploy(folder: str | Path) -> tuple[Manifest, list[str]]:
    """The artifact's manifest and the waivers it ships under; raises with the reason when it must not ship."""
    path = Path(folder)
    if not path.is_dir():
        raise ManifestError(f"{folder} is not a folder", hint="pass the artifact folder that `sdk compile` wrote")
    manifest = read_manifest(path)  # schema: raises ManifestError naming the field
    verify_artifact(path, manifest)  # every sha256 and size: raises IntegrityError naming the file
    waivers: list[str] = []
    for artifact in manifest.artifacts:
        parity = artifact.parity
        if parity is None:
            raise ParityFailure(
                f"{manifest.ref}: {artifact.file} has no parity result, so nothing shows it reproduces its source",
                hint="compile it with `sdk compile`, which compares it with the source model and records the result",
            )
        if not parity.passed:
            waiver = (parity.waiver or "").strip()
            if not waiver:  # Manifest validation refuses this too; kept here so the gate stands on its own
                raise ParityFailure(
                    f"{manifest.ref}: {artifact.file} failed parity ({parity.metric} {parity.value:.3g} > "
                    f"{parity.tolerance:.3g}) and records no waiver",
                    hint="fix the export, or compile with --allow-degraded REASON to ship it knowingly",
                )
            waivers.append(f"{artifact.file}: parity failed ({parity.metric} {parity.value:.3g}), waived: {waiver}")
    return manifest, waivers
