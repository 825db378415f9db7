"""The one error type the ledger raises, with a stable machine code and a human sentence.

Codes are part of the public API (gRPC status messages, CLI output, tests): never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Code(StrEnum):
    MALFORMED = "malformed"                        # undecodable, wrong sizes, over caps
    WRONG_CHAIN = "wrong_chain"                    # chain_id differs from this network's
    BAD_SIGNATURE = "bad_signature"                # missing, extra or invalid signature
    UNKNOWN_INPUT = "unknown_input"                # outpoint never existed or already spent
    DOUBLE_SPEND = "double_spend"                  # same outpoint twice (one tx, block or mempool)
    INSUFFICIENT_FUNDS = "insufficient_funds"      # inputs do not cover outputs
    UNBALANCED = "unbalanced"                      # inputs exceed outputs (no fees: must be equal)
    ZERO_AMOUNT = "zero_amount"                    # an output or amount of 0 fen
    AMOUNT_OVERFLOW = "amount_overflow"            # a sum does not fit in uint64
    TIER_LIMIT_EXCEEDED = "tier_limit_exceeded"    # per-payment, daily, yearly or balance cap
    UNREGISTERED_RECIPIENT = "unregistered_recipient"  # output to an address not whitelisted
    NOT_AUTHORIZED = "not_authorized"              # signer lacks the role (issuer, institution, owner)
    UNKNOWN_TIER = "unknown_tier"                  # tier id not in the genesis tier table
    DUPLICATE = "duplicate"                        # transaction already committed or pending
    INVALID_BLOCK = "invalid_block"                # header does not match its contents or the chain
    # Programmable money (node.ledger.conditions):
    CONDITION_NOT_MET = "condition_not_met"        # a lock's clause lacks signatures or its time
    DESTINATION_NOT_ALLOWED = "destination_not_allowed"  # a clause may not pay that recipient
    VOUCHER_EXPIRED = "voucher_expired"            # after expiry only a reclaim to the issuer
    UNKNOWN_PURPOSE = "unknown_purpose"            # no purpose of that name is defined
    PURPOSE_NOT_ALLOWED = "purpose_not_allowed"    # earmarked money to a recipient outside its purpose
    # Governance (node.ledger.governance_rules)
    UNKNOWN_INSTITUTION = "unknown_institution"    # no institution with that id
    UNKNOWN_WALLET = "unknown_wallet"              # the address is not a registered wallet
    EFFECTIVE_HEIGHT_PASSED = "effective_height_passed"  # a scheduled change must start later
    BOUND_VIOLATION = "bound_violation"            # the change would break a bound of the chain
    IN_USE = "in_use"                              # an id or key already taken by another role
    WRONG_STATUS = "wrong_status"                  # e.g. suspending a suspended institution
    NOT_EMPTY = "not_empty"                        # retiring/deregistering what still holds money
    WALLET_FROZEN = "wallet_frozen"                # a frozen or deregistered wallet pays or is paid
    INSTITUTION_SUSPENDED = "institution_suspended"  # issuance to / new wallets by a suspended one
    UNKNOWN_VALIDATOR = "unknown_validator"        # removing a key that is not a validator


class LedgerError(Exception):
    """A rejected input. `code` is for machines, `message` is a sentence a person can act on."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):  # keep code/message across process boundaries (pickling)
        return (LedgerError, (self.code, self.message))
