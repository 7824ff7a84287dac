"""Start-up step of `make run`: the built-in CA exists before the portal serves anyone."""

from __future__ import annotations

from clm.bootstrap import Say, setup_step


@setup_step(20)
def create_builtin_ca(say: Say) -> None:
    from enrollment.ca.builtin import builtin_ca_ensure, public_url
    from enrollment.models import BuiltinCA

    existed = BuiltinCA.objects.exists()
    account = builtin_ca_ensure()
    if not existed:
        say(f"Built-in CA created (CA account {account.name!r}); CRLs published under {public_url()}/pki/")
