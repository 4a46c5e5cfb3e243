"""A service's env for Kubernetes, split into a ConfigMap's data and a Secret's keys.

Secrets are the variables devstack.export.secretenv's rule names, and those whose
value takes an ``${env:VAR}`` without a default (the deployer's value, marked by
:func:`deployers`). Their values are never written: the Secret is created by the user
from ``NAME-secret.env``, whose keys ``NAME-secret.env.example`` lists (docs/interop.md,
"Secrets", says why there is no Secret manifest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devstack.export.secretenv import NAMED, mask_passwords, secret_reason

MARK = "Written by `devstack export kubernetes`"
_DEPLOYERS = re.compile(r"\0([A-Za-z_][A-Za-z0-9_]*)\0")


def deployers(var: str) -> str:
    """What an ``${env:VAR}`` without a default stands as in an env value."""
    return f"\0{var}\0"


@dataclass(frozen=True, slots=True)
class SecretKey:
    reason: str  # why it is a secret
    value: str  # as resolved for the cluster: never written as it is

    def placeholder(self) -> str:
        """What the example file shows: nothing for a secret by its name, else the value's
        shape with its secret parts replaced (``postgresql://app:<password>@db:5432/app``,
        ``<DB_PASSWORD>`` for an ``${env:DB_PASSWORD}``)."""
        if self.reason.startswith(NAMED):
            return ""
        return mask_passwords(_DEPLOYERS.sub(r"<\1>", self.value))


def split_env(env: dict[str, str]) -> tuple[dict[str, str], dict[str, SecretKey]]:
    """``env`` as the ConfigMap's data and the Secret's keys."""
    config: dict[str, str] = {}
    secret: dict[str, SecretKey] = {}
    for var, value in env.items():
        if refs := _DEPLOYERS.findall(value):
            names = ", ".join(f"${{env:{ref}}}" for ref in refs)
            secret[var] = SecretKey(f"from {names} (no default): the deployer's", value)
        elif (reason := secret_reason(var, value)) is not None:
            secret[var] = SecretKey(reason, value)
        else:
            config[var] = value
    return config, secret


def secret_example(service: str, secret: str, keys: dict[str, SecretKey]) -> str:
    """The text of ``SECRET.env.example``: the keys, why each is secret, a placeholder."""
    lines = [
        f"# {MARK}: the keys of Secret {secret} (service {service}).",
        f"# devstack never writes their values. Copy this file to {secret}.env (keep it out",
        "# of git), fill in the values, then:",
        f"#   kubectl create secret generic {secret} --from-env-file={secret}.env",
        "# (kubectl keeps quotes as part of a value: write KEY=value, unquoted)",
    ]
    for key, found in keys.items():
        lines += [f"# {key}: {found.reason}", f"{key}={found.placeholder()}"]
    return "\n".join(lines) + "\n"
