from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Transaction(_message.Message):
    __slots__ = ("body", "signatures")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signatures: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, body: _Optional[bytes] = ..., signatures: _Optional[_Iterable[bytes]] = ...) -> None: ...

class OutPoint(_message.Message):
    __slots__ = ("txid", "index")
    TXID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    index: int
    def __init__(self, txid: _Optional[bytes] = ..., index: _Optional[int] = ...) -> None: ...

class TxOutput(_message.Message):
    __slots__ = ("owner", "amount", "lock")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    LOCK_FIELD_NUMBER: _ClassVar[int]
    owner: bytes
    amount: int
    lock: bytes
    def __init__(self, owner: _Optional[bytes] = ..., amount: _Optional[int] = ..., lock: _Optional[bytes] = ...) -> None: ...

class Issue(_message.Message):
    __slots__ = ("outputs", "signers")
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    outputs: _containers.RepeatedCompositeFieldContainer[TxOutput]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, outputs: _Optional[_Iterable[_Union[TxOutput, _Mapping]]] = ..., signers: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Redeem(_message.Message):
    __slots__ = ("institution", "inputs", "amount", "change")
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    institution: bytes
    inputs: _containers.RepeatedCompositeFieldContainer[OutPoint]
    amount: int
    change: _containers.RepeatedCompositeFieldContainer[TxOutput]
    def __init__(self, institution: _Optional[bytes] = ..., inputs: _Optional[_Iterable[_Union[OutPoint, _Mapping]]] = ..., amount: _Optional[int] = ..., change: _Optional[_Iterable[_Union[TxOutput, _Mapping]]] = ...) -> None: ...

class RegisterWallet(_message.Message):
    __slots__ = ("institution", "address", "tier", "kyc_commitment")
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    KYC_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    institution: bytes
    address: bytes
    tier: int
    kyc_commitment: bytes
    def __init__(self, institution: _Optional[bytes] = ..., address: _Optional[bytes] = ..., tier: _Optional[int] = ..., kyc_commitment: _Optional[bytes] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("sender", "inputs", "outputs")
    SENDER_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    sender: bytes
    inputs: _containers.RepeatedCompositeFieldContainer[OutPoint]
    outputs: _containers.RepeatedCompositeFieldContainer[TxOutput]
    def __init__(self, sender: _Optional[bytes] = ..., inputs: _Optional[_Iterable[_Union[OutPoint, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TxOutput, _Mapping]]] = ...) -> None: ...

class TxBody(_message.Message):
    __slots__ = ("chain_id", "nonce", "issue", "redeem", "register_wallet", "transfer", "spend_locked", "define_purpose", "register_for_purpose", "admit_institution", "suspend_institution", "reinstate_institution", "retire_institution", "rotate_institution_key", "freeze_wallet", "unfreeze_wallet", "deregister_wallet", "set_tier_table", "set_authority", "set_validators", "set_block_limits", "rotate_validator_key", "rotate_authority_key")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    REDEEM_FIELD_NUMBER: _ClassVar[int]
    REGISTER_WALLET_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    SPEND_LOCKED_FIELD_NUMBER: _ClassVar[int]
    DEFINE_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FOR_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ADMIT_INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    REINSTATE_INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    RETIRE_INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    ROTATE_INSTITUTION_KEY_FIELD_NUMBER: _ClassVar[int]
    FREEZE_WALLET_FIELD_NUMBER: _ClassVar[int]
    UNFREEZE_WALLET_FIELD_NUMBER: _ClassVar[int]
    DEREGISTER_WALLET_FIELD_NUMBER: _ClassVar[int]
    SET_TIER_TABLE_FIELD_NUMBER: _ClassVar[int]
    SET_AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    SET_VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    SET_BLOCK_LIMITS_FIELD_NUMBER: _ClassVar[int]
    ROTATE_VALIDATOR_KEY_FIELD_NUMBER: _ClassVar[int]
    ROTATE_AUTHORITY_KEY_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    nonce: int
    issue: Issue
    redeem: Redeem
    register_wallet: RegisterWallet
    transfer: Transfer
    spend_locked: SpendLocked
    define_purpose: DefinePurpose
    register_for_purpose: RegisterForPurpose
    admit_institution: AdmitInstitution
    suspend_institution: InstitutionRef
    reinstate_institution: InstitutionRef
    retire_institution: InstitutionRef
    rotate_institution_key: RotateInstitutionKey
    freeze_wallet: WalletAction
    unfreeze_wallet: WalletAction
    deregister_wallet: WalletAction
    set_tier_table: SetTierTable
    set_authority: SetAuthority
    set_validators: SetValidators
    set_block_limits: SetBlockLimits
    rotate_validator_key: RotateValidatorKey
    rotate_authority_key: RotateAuthorityKey
    def __init__(self, chain_id: _Optional[str] = ..., nonce: _Optional[int] = ..., issue: _Optional[_Union[Issue, _Mapping]] = ..., redeem: _Optional[_Union[Redeem, _Mapping]] = ..., register_wallet: _Optional[_Union[RegisterWallet, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., spend_locked: _Optional[_Union[SpendLocked, _Mapping]] = ..., define_purpose: _Optional[_Union[DefinePurpose, _Mapping]] = ..., register_for_purpose: _Optional[_Union[RegisterForPurpose, _Mapping]] = ..., admit_institution: _Optional[_Union[AdmitInstitution, _Mapping]] = ..., suspend_institution: _Optional[_Union[InstitutionRef, _Mapping]] = ..., reinstate_institution: _Optional[_Union[InstitutionRef, _Mapping]] = ..., retire_institution: _Optional[_Union[InstitutionRef, _Mapping]] = ..., rotate_institution_key: _Optional[_Union[RotateInstitutionKey, _Mapping]] = ..., freeze_wallet: _Optional[_Union[WalletAction, _Mapping]] = ..., unfreeze_wallet: _Optional[_Union[WalletAction, _Mapping]] = ..., deregister_wallet: _Optional[_Union[WalletAction, _Mapping]] = ..., set_tier_table: _Optional[_Union[SetTierTable, _Mapping]] = ..., set_authority: _Optional[_Union[SetAuthority, _Mapping]] = ..., set_validators: _Optional[_Union[SetValidators, _Mapping]] = ..., set_block_limits: _Optional[_Union[SetBlockLimits, _Mapping]] = ..., rotate_validator_key: _Optional[_Union[RotateValidatorKey, _Mapping]] = ..., rotate_authority_key: _Optional[_Union[RotateAuthorityKey, _Mapping]] = ...) -> None: ...

class BlockHeader(_message.Message):
    __slots__ = ("chain_id", "height", "time_ms", "prev_hash", "tx_root", "state_root", "validators_hash", "proposer", "evidence_root", "tx_count", "next_validators_hash", "witness_root")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    TX_ROOT_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_HASH_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_ROOT_FIELD_NUMBER: _ClassVar[int]
    TX_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEXT_VALIDATORS_HASH_FIELD_NUMBER: _ClassVar[int]
    WITNESS_ROOT_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    height: int
    time_ms: int
    prev_hash: bytes
    tx_root: bytes
    state_root: bytes
    validators_hash: bytes
    proposer: bytes
    evidence_root: bytes
    tx_count: int
    next_validators_hash: bytes
    witness_root: bytes
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., time_ms: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., tx_root: _Optional[bytes] = ..., state_root: _Optional[bytes] = ..., validators_hash: _Optional[bytes] = ..., proposer: _Optional[bytes] = ..., evidence_root: _Optional[bytes] = ..., tx_count: _Optional[int] = ..., next_validators_hash: _Optional[bytes] = ..., witness_root: _Optional[bytes] = ...) -> None: ...

class Block(_message.Message):
    __slots__ = ("header", "txs", "evidence")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    TXS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    header: bytes
    txs: _containers.RepeatedScalarFieldContainer[bytes]
    evidence: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, header: _Optional[bytes] = ..., txs: _Optional[_Iterable[bytes]] = ..., evidence: _Optional[_Iterable[bytes]] = ...) -> None: ...

class CommittedBlock(_message.Message):
    __slots__ = ("block", "commit")
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    block: bytes
    commit: bytes
    def __init__(self, block: _Optional[bytes] = ..., commit: _Optional[bytes] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("pk", "multi", "after_height", "after_time_ms", "all", "any", "thresh", "before_time_ms")
    PK_FIELD_NUMBER: _ClassVar[int]
    MULTI_FIELD_NUMBER: _ClassVar[int]
    AFTER_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    AFTER_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    ALL_FIELD_NUMBER: _ClassVar[int]
    ANY_FIELD_NUMBER: _ClassVar[int]
    THRESH_FIELD_NUMBER: _ClassVar[int]
    BEFORE_TIME_MS_FIELD_NUMBER: _ClassVar[int]
    pk: bytes
    multi: Multi
    after_height: int
    after_time_ms: int
    all: Conditions
    any: Conditions
    thresh: Thresh
    before_time_ms: int
    def __init__(self, pk: _Optional[bytes] = ..., multi: _Optional[_Union[Multi, _Mapping]] = ..., after_height: _Optional[int] = ..., after_time_ms: _Optional[int] = ..., all: _Optional[_Union[Conditions, _Mapping]] = ..., any: _Optional[_Union[Conditions, _Mapping]] = ..., thresh: _Optional[_Union[Thresh, _Mapping]] = ..., before_time_ms: _Optional[int] = ...) -> None: ...

class Multi(_message.Message):
    __slots__ = ("k", "keys")
    K_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    k: int
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, k: _Optional[int] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Conditions(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, items: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class Thresh(_message.Message):
    __slots__ = ("k", "items")
    K_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    k: int
    items: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, k: _Optional[int] = ..., items: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class Clause(_message.Message):
    __slots__ = ("name", "policy", "pay_to")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    PAY_TO_FIELD_NUMBER: _ClassVar[int]
    name: str
    policy: Condition
    pay_to: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, name: _Optional[str] = ..., policy: _Optional[_Union[Condition, _Mapping]] = ..., pay_to: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Lock(_message.Message):
    __slots__ = ("clauses", "voucher_issuer", "expires_at_ms", "memo", "purpose")
    CLAUSES_FIELD_NUMBER: _ClassVar[int]
    VOUCHER_ISSUER_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    MEMO_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    clauses: _containers.RepeatedCompositeFieldContainer[Clause]
    voucher_issuer: bytes
    expires_at_ms: int
    memo: str
    purpose: str
    def __init__(self, clauses: _Optional[_Iterable[_Union[Clause, _Mapping]]] = ..., voucher_issuer: _Optional[bytes] = ..., expires_at_ms: _Optional[int] = ..., memo: _Optional[str] = ..., purpose: _Optional[str] = ...) -> None: ...

class SpendLocked(_message.Message):
    __slots__ = ("lock", "clause", "inputs", "outputs", "signers")
    LOCK_FIELD_NUMBER: _ClassVar[int]
    CLAUSE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    lock: bytes
    clause: int
    inputs: _containers.RepeatedCompositeFieldContainer[OutPoint]
    outputs: _containers.RepeatedCompositeFieldContainer[TxOutput]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, lock: _Optional[bytes] = ..., clause: _Optional[int] = ..., inputs: _Optional[_Iterable[_Union[OutPoint, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TxOutput, _Mapping]]] = ..., signers: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DefinePurpose(_message.Message):
    __slots__ = ("institution", "purpose", "description", "issuer_signers")
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ISSUER_SIGNERS_FIELD_NUMBER: _ClassVar[int]
    institution: bytes
    purpose: str
    description: str
    issuer_signers: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, institution: _Optional[bytes] = ..., purpose: _Optional[str] = ..., description: _Optional[str] = ..., issuer_signers: _Optional[_Iterable[bytes]] = ...) -> None: ...

class RegisterForPurpose(_message.Message):
    __slots__ = ("institution", "purpose", "address", "role")
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    institution: bytes
    purpose: str
    address: bytes
    role: int
    def __init__(self, institution: _Optional[bytes] = ..., purpose: _Optional[str] = ..., address: _Optional[bytes] = ..., role: _Optional[int] = ...) -> None: ...

class AdmitInstitution(_message.Message):
    __slots__ = ("signers", "id", "name", "public_key")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    id: str
    name: str
    public_key: bytes
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., id: _Optional[str] = ..., name: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class InstitutionRef(_message.Message):
    __slots__ = ("signers", "id")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    id: str
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., id: _Optional[str] = ...) -> None: ...

class RotateInstitutionKey(_message.Message):
    __slots__ = ("signers", "id", "new_key")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    id: str
    new_key: bytes
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., id: _Optional[str] = ..., new_key: _Optional[bytes] = ...) -> None: ...

class WalletAction(_message.Message):
    __slots__ = ("signers", "address", "reason")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    address: bytes
    reason: int
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., address: _Optional[bytes] = ..., reason: _Optional[int] = ...) -> None: ...

class TierRow(_message.Message):
    __slots__ = ("id", "name", "has_balance_cap", "balance_cap", "has_per_payment", "per_payment", "has_daily", "daily", "has_yearly", "yearly")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HAS_BALANCE_CAP_FIELD_NUMBER: _ClassVar[int]
    BALANCE_CAP_FIELD_NUMBER: _ClassVar[int]
    HAS_PER_PAYMENT_FIELD_NUMBER: _ClassVar[int]
    PER_PAYMENT_FIELD_NUMBER: _ClassVar[int]
    HAS_DAILY_FIELD_NUMBER: _ClassVar[int]
    DAILY_FIELD_NUMBER: _ClassVar[int]
    HAS_YEARLY_FIELD_NUMBER: _ClassVar[int]
    YEARLY_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    has_balance_cap: bool
    balance_cap: int
    has_per_payment: bool
    per_payment: int
    has_daily: bool
    daily: int
    has_yearly: bool
    yearly: int
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., has_balance_cap: _Optional[bool] = ..., balance_cap: _Optional[int] = ..., has_per_payment: _Optional[bool] = ..., per_payment: _Optional[int] = ..., has_daily: _Optional[bool] = ..., daily: _Optional[int] = ..., has_yearly: _Optional[bool] = ..., yearly: _Optional[int] = ...) -> None: ...

class SetTierTable(_message.Message):
    __slots__ = ("signers", "effective_height", "tiers")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    effective_height: int
    tiers: _containers.RepeatedCompositeFieldContainer[TierRow]
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., effective_height: _Optional[int] = ..., tiers: _Optional[_Iterable[_Union[TierRow, _Mapping]]] = ...) -> None: ...

class SetAuthority(_message.Message):
    __slots__ = ("signers", "keys", "threshold")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    threshold: int
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., keys: _Optional[_Iterable[bytes]] = ..., threshold: _Optional[int] = ...) -> None: ...

class ValidatorUpdate(_message.Message):
    __slots__ = ("public_key", "power", "name")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    power: int
    name: str
    def __init__(self, public_key: _Optional[bytes] = ..., power: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class SetValidators(_message.Message):
    __slots__ = ("signers", "updates")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    updates: _containers.RepeatedCompositeFieldContainer[ValidatorUpdate]
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., updates: _Optional[_Iterable[_Union[ValidatorUpdate, _Mapping]]] = ...) -> None: ...

class SetBlockLimits(_message.Message):
    __slots__ = ("signers", "effective_height", "max_block_txs", "max_block_bytes")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_BLOCK_TXS_FIELD_NUMBER: _ClassVar[int]
    MAX_BLOCK_BYTES_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    effective_height: int
    max_block_txs: int
    max_block_bytes: int
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., effective_height: _Optional[int] = ..., max_block_txs: _Optional[int] = ..., max_block_bytes: _Optional[int] = ...) -> None: ...

class RotateValidatorKey(_message.Message):
    __slots__ = ("signers", "old_key", "new_key")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    OLD_KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    old_key: bytes
    new_key: bytes
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., old_key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ...) -> None: ...

class RotateAuthorityKey(_message.Message):
    __slots__ = ("signers", "old_key", "new_key")
    SIGNERS_FIELD_NUMBER: _ClassVar[int]
    OLD_KEY_FIELD_NUMBER: _ClassVar[int]
    NEW_KEY_FIELD_NUMBER: _ClassVar[int]
    signers: _containers.RepeatedScalarFieldContainer[bytes]
    old_key: bytes
    new_key: bytes
    def __init__(self, signers: _Optional[_Iterable[bytes]] = ..., old_key: _Optional[bytes] = ..., new_key: _Optional[bytes] = ...) -> None: ...
