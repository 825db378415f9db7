"""Entry point of the `cbdc` console script."""

from __future__ import annotations

import click

from cli.lazy import LazyGroup


def _remember(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Keep a global TLS option for cli.connect (commands never see it as an argument)."""
    if value:
        ctx.meta[f"cbdc.{param.name}"] = "1" if value is True else value


@click.group(
    cls=LazyGroup,
    lazy={
        "bench": "cli.bench:bench",
        "node": "cli.node:node",
        "devnet": "cli.devnet:devnet",
        "keys": "cli.keys:keys",
        "signer": "cli.signer:signer",
        "bank": "cli.bank:bank",
        "pay": "cli.pay:pay",
        "balance": "cli.pay:balance",
        "chain": "cli.chain:chain",
        "gov": "cli.gov:gov",
        "genesis": "cli.genesis:genesis",
        "audit": "cli.audit:audit",
        "escrow": "cli.escrow:escrow",
        "voucher": "cli.voucher:voucher",
        "purpose": "cli.purpose:purpose",
        "multisig": "cli.multisig:multisig",
        "testnet": "cli.testnet:testnet",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="cbdc")
@click.option("--ca", metavar="FILE", callback=_remember, expose_value=False,
              help="Members bundle to check nodes against (TLS). Default: $CBDC_CA, else a local devnet's.")
@click.option("--cert", metavar="FILE", callback=_remember, expose_value=False,
              help="Client certificate chain, for members (default: $CBDC_CERT).")
@click.option("--key", "tls_key", metavar="FILE", callback=_remember, expose_value=False,
              help="Private key of --cert (default: $CBDC_TLS_KEY).")
@click.option("--read-key", metavar="FILE", callback=_remember, expose_value=False,
              help="Key that signs private reads: an auditor's or an institution's "
                   "(default: $CBDC_READ_KEY, else a local devnet's auditor key).")
@click.option("--insecure", is_flag=True, callback=_remember, expose_value=False,
              help="Plaintext, for a node with [tls] insecure = true (default: $CBDC_INSECURE=1).")
def cli() -> None:
    """cbdc: validator node and tools for a two-tier retail digital currency."""
