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
    __slots__ = ("owner", "amount")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    owner: bytes
    amount: int
    def __init__(self, owner: _Optional[bytes] = ..., amount: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("chain_id", "nonce", "issue", "redeem", "register_wallet", "transfer")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    ISSUE_FIELD_NUMBER: _ClassVar[int]
    REDEEM_FIELD_NUMBER: _ClassVar[int]
    REGISTER_WALLET_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    nonce: int
    issue: Issue
    redeem: Redeem
    register_wallet: RegisterWallet
    transfer: Transfer
    def __init__(self, chain_id: _Optional[str] = ..., nonce: _Optional[int] = ..., issue: _Optional[_Union[Issue, _Mapping]] = ..., redeem: _Optional[_Union[Redeem, _Mapping]] = ..., register_wallet: _Optional[_Union[RegisterWallet, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ...) -> None: ...

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
