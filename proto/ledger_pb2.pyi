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
    __slots__ = ("chain_id", "nonce", "issue", "redeem", "register_wallet", "transfer", "spend_locked", "define_purpose", "register_for_purpose")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    REDEEM_FIELD_NUMBER: _ClassVar[int]
    REGISTER_WALLET_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    SPEND_LOCKED_FIELD_NUMBER: _ClassVar[int]
    DEFINE_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REGISTER_FOR_PURPOSE_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    nonce: int
    issue: Issue
    redeem: Redeem
    register_wallet: RegisterWallet
    transfer: Transfer
    spend_locked: SpendLocked
    define_purpose: DefinePurpose
    register_for_purpose: RegisterForPurpose
    def __init__(self, chain_id: _Optional[str] = ..., nonce: _Optional[int] = ..., issue: _Optional[_Union[Issue, _Mapping]] = ..., redeem: _Optional[_Union[Redeem, _Mapping]] = ..., register_wallet: _Optional[_Union[RegisterWallet, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., spend_locked: _Optional[_Union[SpendLocked, _Mapping]] = ..., define_purpose: _Optional[_Union[DefinePurpose, _Mapping]] = ..., register_for_purpose: _Optional[_Union[RegisterForPurpose, _Mapping]] = ...) -> None: ...

class BlockHeader(_message.Message):
    __slots__ = ("chain_id", "height", "time_ms", "prev_hash", "tx_root", "state_root", "validators_hash", "proposer", "evidence_root", "tx_count")
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
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., time_ms: _Optional[int] = ..., prev_hash: _Optional[bytes] = ..., tx_root: _Optional[bytes] = ..., state_root: _Optional[bytes] = ..., validators_hash: _Optional[bytes] = ..., proposer: _Optional[bytes] = ..., evidence_root: _Optional[bytes] = ..., tx_count: _Optional[int] = ...) -> None: ...

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
