from proto import ledger_pb2 as _ledger_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TxStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TX_STATUS_UNSPECIFIED: _ClassVar[TxStatus]
    TX_STATUS_UNKNOWN: _ClassVar[TxStatus]
    TX_STATUS_PENDING: _ClassVar[TxStatus]
    TX_STATUS_COMMITTED: _ClassVar[TxStatus]
    TX_STATUS_REJECTED: _ClassVar[TxStatus]
TX_STATUS_UNSPECIFIED: TxStatus
TX_STATUS_UNKNOWN: TxStatus
TX_STATUS_PENDING: TxStatus
TX_STATUS_COMMITTED: TxStatus
TX_STATUS_REJECTED: TxStatus

class PeerMessage(_message.Message):
    __slots__ = ("hello", "hello_reply", "hello_proof", "hello_accepted", "goodbye", "proposal", "vote", "tx_batch", "evidence", "status", "commit", "bundle")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HELLO_REPLY_FIELD_NUMBER: _ClassVar[int]
    HELLO_PROOF_FIELD_NUMBER: _ClassVar[int]
    HELLO_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    GOODBYE_FIELD_NUMBER: _ClassVar[int]
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    TX_BATCH_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    BUNDLE_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    hello_reply: HelloReply
    hello_proof: HelloProof
    hello_accepted: HelloAccepted
    goodbye: Goodbye
    proposal: Proposal
    vote: bytes
    tx_batch: TxBatch
    evidence: bytes
    status: StatusAnnouncement
    commit: bytes
    bundle: Bundle
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., hello_reply: _Optional[_Union[HelloReply, _Mapping]] = ..., hello_proof: _Optional[_Union[HelloProof, _Mapping]] = ..., hello_accepted: _Optional[_Union[HelloAccepted, _Mapping]] = ..., goodbye: _Optional[_Union[Goodbye, _Mapping]] = ..., proposal: _Optional[_Union[Proposal, _Mapping]] = ..., vote: _Optional[bytes] = ..., tx_batch: _Optional[_Union[TxBatch, _Mapping]] = ..., evidence: _Optional[bytes] = ..., status: _Optional[_Union[StatusAnnouncement, _Mapping]] = ..., commit: _Optional[bytes] = ..., bundle: _Optional[_Union[Bundle, _Mapping]] = ...) -> None: ...

class Bundle(_message.Message):
    __slots__ = ("messages",)
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, messages: _Optional[_Iterable[bytes]] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("protocol_version", "chain_id", "public_key", "nonce", "genesis_hash")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    GENESIS_HASH_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    chain_id: str
    public_key: bytes
    nonce: bytes
    genesis_hash: bytes
    def __init__(self, protocol_version: _Optional[int] = ..., chain_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., nonce: _Optional[bytes] = ..., genesis_hash: _Optional[bytes] = ...) -> None: ...

class HelloReply(_message.Message):
    __slots__ = ("protocol_version", "chain_id", "public_key", "nonce", "signature", "genesis_hash")
    PROTOCOL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    GENESIS_HASH_FIELD_NUMBER: _ClassVar[int]
    protocol_version: int
    chain_id: str
    public_key: bytes
    nonce: bytes
    signature: bytes
    genesis_hash: bytes
    def __init__(self, protocol_version: _Optional[int] = ..., chain_id: _Optional[str] = ..., public_key: _Optional[bytes] = ..., nonce: _Optional[bytes] = ..., signature: _Optional[bytes] = ..., genesis_hash: _Optional[bytes] = ...) -> None: ...

class HelloProof(_message.Message):
    __slots__ = ("signature",)
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    signature: bytes
    def __init__(self, signature: _Optional[bytes] = ...) -> None: ...

class HelloAccepted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Goodbye(_message.Message):
    __slots__ = ("reason",)
    REASON_FIELD_NUMBER: _ClassVar[int]
    reason: str
    def __init__(self, reason: _Optional[str] = ...) -> None: ...

class Proposal(_message.Message):
    __slots__ = ("proposal", "block")
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    BLOCK_FIELD_NUMBER: _ClassVar[int]
    proposal: bytes
    block: bytes
    def __init__(self, proposal: _Optional[bytes] = ..., block: _Optional[bytes] = ...) -> None: ...

class TxBatch(_message.Message):
    __slots__ = ("txs",)
    TXS_FIELD_NUMBER: _ClassVar[int]
    txs: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, txs: _Optional[_Iterable[bytes]] = ...) -> None: ...

class StatusAnnouncement(_message.Message):
    __slots__ = ("height", "block_hash", "unheard")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    UNHEARD_FIELD_NUMBER: _ClassVar[int]
    height: int
    block_hash: bytes
    unheard: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, height: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., unheard: _Optional[_Iterable[bytes]] = ...) -> None: ...

class GetBlocksRequest(_message.Message):
    __slots__ = ("from_height", "to_height")
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TO_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    to_height: int
    def __init__(self, from_height: _Optional[int] = ..., to_height: _Optional[int] = ...) -> None: ...

class CommittedBlockMsg(_message.Message):
    __slots__ = ("height", "block_hash", "committed_block")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    COMMITTED_BLOCK_FIELD_NUMBER: _ClassVar[int]
    height: int
    block_hash: bytes
    committed_block: bytes
    def __init__(self, height: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., committed_block: _Optional[bytes] = ...) -> None: ...

class GetTipRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Tip(_message.Message):
    __slots__ = ("chain_id", "height", "block_hash", "state_root", "time_ms")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    height: int
    block_hash: bytes
    state_root: bytes
    time_ms: int
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., state_root: _Optional[bytes] = ..., time_ms: _Optional[int] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class TxInclusion(_message.Message):
    __slots__ = ("height", "index", "block_hash", "time_ms")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    height: int
    index: int
    block_hash: bytes
    time_ms: int
    def __init__(self, height: _Optional[int] = ..., index: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., time_ms: _Optional[int] = ...) -> None: ...

class SubmitTransactionRequest(_message.Message):
    __slots__ = ("tx", "seen_height")
    TX_FIELD_NUMBER: _ClassVar[int]
    SEEN_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    tx: bytes
    seen_height: int
    def __init__(self, tx: _Optional[bytes] = ..., seen_height: _Optional[int] = ...) -> None: ...

class SubmitTransactionResponse(_message.Message):
    __slots__ = ("txid", "status")
    TXID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    status: TxStatus
    def __init__(self, txid: _Optional[bytes] = ..., status: _Optional[_Union[TxStatus, str]] = ...) -> None: ...

class SubmitBatchRequest(_message.Message):
    __slots__ = ("txs", "seen_height")
    TXS_FIELD_NUMBER: _ClassVar[int]
    SEEN_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    txs: _containers.RepeatedScalarFieldContainer[bytes]
    seen_height: int
    def __init__(self, txs: _Optional[_Iterable[bytes]] = ..., seen_height: _Optional[int] = ...) -> None: ...

class SubmitBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitTransactionResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitTransactionResult, _Mapping]]] = ...) -> None: ...

class SubmitTransactionResult(_message.Message):
    __slots__ = ("sequence", "txid", "status", "rejection")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TXID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    txid: bytes
    status: TxStatus
    rejection: Rejection
    def __init__(self, sequence: _Optional[int] = ..., txid: _Optional[bytes] = ..., status: _Optional[_Union[TxStatus, str]] = ..., rejection: _Optional[_Union[Rejection, _Mapping]] = ...) -> None: ...

class WaitTransactionRequest(_message.Message):
    __slots__ = ("txid", "timeout_ms")
    TXID_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    timeout_ms: int
    def __init__(self, txid: _Optional[bytes] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class TransactionOutcome(_message.Message):
    __slots__ = ("txid", "status", "inclusion", "rejection")
    TXID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    status: TxStatus
    inclusion: TxInclusion
    rejection: Rejection
    def __init__(self, txid: _Optional[bytes] = ..., status: _Optional[_Union[TxStatus, str]] = ..., inclusion: _Optional[_Union[TxInclusion, _Mapping]] = ..., rejection: _Optional[_Union[Rejection, _Mapping]] = ...) -> None: ...

class GetTransactionRequest(_message.Message):
    __slots__ = ("txid",)
    TXID_FIELD_NUMBER: _ClassVar[int]
    txid: bytes
    def __init__(self, txid: _Optional[bytes] = ...) -> None: ...

class GetTransactionResponse(_message.Message):
    __slots__ = ("tx", "status", "inclusion")
    TX_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INCLUSION_FIELD_NUMBER: _ClassVar[int]
    tx: bytes
    status: TxStatus
    inclusion: TxInclusion
    def __init__(self, tx: _Optional[bytes] = ..., status: _Optional[_Union[TxStatus, str]] = ..., inclusion: _Optional[_Union[TxInclusion, _Mapping]] = ...) -> None: ...

class GetBlockRequest(_message.Message):
    __slots__ = ("height", "hash")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    height: int
    hash: bytes
    def __init__(self, height: _Optional[int] = ..., hash: _Optional[bytes] = ...) -> None: ...

class GetUtxosRequest(_message.Message):
    __slots__ = ("address", "limit", "page_token", "seen_height")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SEEN_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    limit: int
    page_token: bytes
    seen_height: int
    def __init__(self, address: _Optional[bytes] = ..., limit: _Optional[int] = ..., page_token: _Optional[bytes] = ..., seen_height: _Optional[int] = ...) -> None: ...

class Utxo(_message.Message):
    __slots__ = ("outpoint", "amount")
    OUTPOINT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    outpoint: _ledger_pb2.OutPoint
    amount: int
    def __init__(self, outpoint: _Optional[_Union[_ledger_pb2.OutPoint, _Mapping]] = ..., amount: _Optional[int] = ...) -> None: ...

class GetUtxosResponse(_message.Message):
    __slots__ = ("utxos", "height", "next_page_token")
    UTXOS_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    utxos: _containers.RepeatedCompositeFieldContainer[Utxo]
    height: int
    next_page_token: bytes
    def __init__(self, utxos: _Optional[_Iterable[_Union[Utxo, _Mapping]]] = ..., height: _Optional[int] = ..., next_page_token: _Optional[bytes] = ...) -> None: ...

class GetBalanceRequest(_message.Message):
    __slots__ = ("address", "seen_height")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SEEN_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    seen_height: int
    def __init__(self, address: _Optional[bytes] = ..., seen_height: _Optional[int] = ...) -> None: ...

class GetBalanceResponse(_message.Message):
    __slots__ = ("balance", "utxo_count", "height")
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    UTXO_COUNT_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    balance: int
    utxo_count: int
    height: int
    def __init__(self, balance: _Optional[int] = ..., utxo_count: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class GetWalletRequest(_message.Message):
    __slots__ = ("address", "seen_height")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SEEN_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    seen_height: int
    def __init__(self, address: _Optional[bytes] = ..., seen_height: _Optional[int] = ...) -> None: ...

class WalletInfo(_message.Message):
    __slots__ = ("address", "tier", "institution", "kyc_commitment", "balance", "day", "day_outflow", "year", "year_outflow", "height", "status", "reason")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TIER_FIELD_NUMBER: _ClassVar[int]
    INSTITUTION_FIELD_NUMBER: _ClassVar[int]
    KYC_COMMITMENT_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    DAY_OUTFLOW_FIELD_NUMBER: _ClassVar[int]
    YEAR_FIELD_NUMBER: _ClassVar[int]
    YEAR_OUTFLOW_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    address: bytes
    tier: int
    institution: bytes
    kyc_commitment: bytes
    balance: int
    day: int
    day_outflow: int
    year: int
    year_outflow: int
    height: int
    status: int
    reason: int
    def __init__(self, address: _Optional[bytes] = ..., tier: _Optional[int] = ..., institution: _Optional[bytes] = ..., kyc_commitment: _Optional[bytes] = ..., balance: _Optional[int] = ..., day: _Optional[int] = ..., day_outflow: _Optional[int] = ..., year: _Optional[int] = ..., year_outflow: _Optional[int] = ..., height: _Optional[int] = ..., status: _Optional[int] = ..., reason: _Optional[int] = ...) -> None: ...

class GetSupplyRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SupplyInfo(_message.Message):
    __slots__ = ("issued", "redeemed", "outstanding", "height")
    ISSUED_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    issued: int
    redeemed: int
    outstanding: int
    height: int
    def __init__(self, issued: _Optional[int] = ..., redeemed: _Optional[int] = ..., outstanding: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Validator(_message.Message):
    __slots__ = ("public_key", "power", "name")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    power: int
    name: str
    def __init__(self, public_key: _Optional[bytes] = ..., power: _Optional[int] = ..., name: _Optional[str] = ...) -> None: ...

class PeerInfo(_message.Message):
    __slots__ = ("public_key", "address", "outbound", "inbound", "height")
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    OUTBOUND_FIELD_NUMBER: _ClassVar[int]
    INBOUND_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    public_key: bytes
    address: str
    outbound: bool
    inbound: bool
    height: int
    def __init__(self, public_key: _Optional[bytes] = ..., address: _Optional[str] = ..., outbound: _Optional[bool] = ..., inbound: _Optional[bool] = ..., height: _Optional[int] = ...) -> None: ...

class NodeStatus(_message.Message):
    __slots__ = ("chain_id", "height", "block_hash", "state_root", "time_ms", "validator_key", "validators", "peers_connected", "peers", "syncing", "mempool_size", "mempool_bytes", "version", "base_height")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    STATE_ROOT_FIELD_NUMBER: _ClassVar[int]
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_KEY_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    PEERS_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    SYNCING_FIELD_NUMBER: _ClassVar[int]
    MEMPOOL_SIZE_FIELD_NUMBER: _ClassVar[int]
    MEMPOOL_BYTES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    BASE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    height: int
    block_hash: bytes
    state_root: bytes
    time_ms: int
    validator_key: bytes
    validators: _containers.RepeatedCompositeFieldContainer[Validator]
    peers_connected: int
    peers: _containers.RepeatedCompositeFieldContainer[PeerInfo]
    syncing: bool
    mempool_size: int
    mempool_bytes: int
    version: str
    base_height: int
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., state_root: _Optional[bytes] = ..., time_ms: _Optional[int] = ..., validator_key: _Optional[bytes] = ..., validators: _Optional[_Iterable[_Union[Validator, _Mapping]]] = ..., peers_connected: _Optional[int] = ..., peers: _Optional[_Iterable[_Union[PeerInfo, _Mapping]]] = ..., syncing: _Optional[bool] = ..., mempool_size: _Optional[int] = ..., mempool_bytes: _Optional[int] = ..., version: _Optional[str] = ..., base_height: _Optional[int] = ...) -> None: ...

class WatchBlocksRequest(_message.Message):
    __slots__ = ("from_height",)
    FROM_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    from_height: int
    def __init__(self, from_height: _Optional[int] = ...) -> None: ...

class GetSnapshotRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("data", "height")
    DATA_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    height: int
    def __init__(self, data: _Optional[bytes] = ..., height: _Optional[int] = ...) -> None: ...

class GetGovernanceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InstitutionInfo(_message.Message):
    __slots__ = ("id", "name", "public_key", "status", "former_keys")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    FORMER_KEYS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    public_key: bytes
    status: str
    former_keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., public_key: _Optional[bytes] = ..., status: _Optional[str] = ..., former_keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class TierTableInfo(_message.Message):
    __slots__ = ("effective_height", "tiers")
    EFFECTIVE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    TIERS_FIELD_NUMBER: _ClassVar[int]
    effective_height: int
    tiers: _containers.RepeatedCompositeFieldContainer[_ledger_pb2.TierRow]
    def __init__(self, effective_height: _Optional[int] = ..., tiers: _Optional[_Iterable[_Union[_ledger_pb2.TierRow, _Mapping]]] = ...) -> None: ...

class GovernanceInfo(_message.Message):
    __slots__ = ("authority", "threshold", "institutions", "tier_tables", "height", "validator_sets")
    AUTHORITY_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    INSTITUTIONS_FIELD_NUMBER: _ClassVar[int]
    TIER_TABLES_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_SETS_FIELD_NUMBER: _ClassVar[int]
    authority: _containers.RepeatedScalarFieldContainer[bytes]
    threshold: int
    institutions: _containers.RepeatedCompositeFieldContainer[InstitutionInfo]
    tier_tables: _containers.RepeatedCompositeFieldContainer[TierTableInfo]
    height: int
    validator_sets: _containers.RepeatedCompositeFieldContainer[ValidatorSetInfo]
    def __init__(self, authority: _Optional[_Iterable[bytes]] = ..., threshold: _Optional[int] = ..., institutions: _Optional[_Iterable[_Union[InstitutionInfo, _Mapping]]] = ..., tier_tables: _Optional[_Iterable[_Union[TierTableInfo, _Mapping]]] = ..., height: _Optional[int] = ..., validator_sets: _Optional[_Iterable[_Union[ValidatorSetInfo, _Mapping]]] = ...) -> None: ...

class ValidatorInfo(_message.Message):
    __slots__ = ("name", "public_key", "power")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    POWER_FIELD_NUMBER: _ClassVar[int]
    name: str
    public_key: bytes
    power: int
    def __init__(self, name: _Optional[str] = ..., public_key: _Optional[bytes] = ..., power: _Optional[int] = ...) -> None: ...

class ValidatorSetInfo(_message.Message):
    __slots__ = ("effective_height", "validators", "validators_hash")
    EFFECTIVE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_FIELD_NUMBER: _ClassVar[int]
    VALIDATORS_HASH_FIELD_NUMBER: _ClassVar[int]
    effective_height: int
    validators: _containers.RepeatedCompositeFieldContainer[ValidatorInfo]
    validators_hash: bytes
    def __init__(self, effective_height: _Optional[int] = ..., validators: _Optional[_Iterable[_Union[ValidatorInfo, _Mapping]]] = ..., validators_hash: _Optional[bytes] = ...) -> None: ...
