from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VoteType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOTE_TYPE_UNSPECIFIED: _ClassVar[VoteType]
    VOTE_TYPE_PREVOTE: _ClassVar[VoteType]
    VOTE_TYPE_PRECOMMIT: _ClassVar[VoteType]
VOTE_TYPE_UNSPECIFIED: VoteType
VOTE_TYPE_PREVOTE: VoteType
VOTE_TYPE_PRECOMMIT: VoteType

class VoteBody(_message.Message):
    __slots__ = ("chain_id", "height", "round", "type", "block_hash", "validator")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    VALIDATOR_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    height: int
    round: int
    type: VoteType
    block_hash: bytes
    validator: bytes
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., round: _Optional[int] = ..., type: _Optional[_Union[VoteType, str]] = ..., block_hash: _Optional[bytes] = ..., validator: _Optional[bytes] = ...) -> None: ...

class SignedVote(_message.Message):
    __slots__ = ("body", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class ProposalBody(_message.Message):
    __slots__ = ("chain_id", "height", "round", "pol_round", "block_hash", "proposer")
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    POL_ROUND_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    PROPOSER_FIELD_NUMBER: _ClassVar[int]
    chain_id: str
    height: int
    round: int
    pol_round: int
    block_hash: bytes
    proposer: bytes
    def __init__(self, chain_id: _Optional[str] = ..., height: _Optional[int] = ..., round: _Optional[int] = ..., pol_round: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., proposer: _Optional[bytes] = ...) -> None: ...

class SignedProposal(_message.Message):
    __slots__ = ("body", "signature")
    BODY_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    body: bytes
    signature: bytes
    def __init__(self, body: _Optional[bytes] = ..., signature: _Optional[bytes] = ...) -> None: ...

class CommitCertificate(_message.Message):
    __slots__ = ("height", "round", "block_hash", "precommits")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    PRECOMMITS_FIELD_NUMBER: _ClassVar[int]
    height: int
    round: int
    block_hash: bytes
    precommits: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, height: _Optional[int] = ..., round: _Optional[int] = ..., block_hash: _Optional[bytes] = ..., precommits: _Optional[_Iterable[bytes]] = ...) -> None: ...

class DuplicateVoteEvidence(_message.Message):
    __slots__ = ("vote_a", "vote_b")
    VOTE_A_FIELD_NUMBER: _ClassVar[int]
    VOTE_B_FIELD_NUMBER: _ClassVar[int]
    vote_a: bytes
    vote_b: bytes
    def __init__(self, vote_a: _Optional[bytes] = ..., vote_b: _Optional[bytes] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("duplicate_vote",)
    DUPLICATE_VOTE_FIELD_NUMBER: _ClassVar[int]
    duplicate_vote: DuplicateVoteEvidence
    def __init__(self, duplicate_vote: _Optional[_Union[DuplicateVoteEvidence, _Mapping]] = ...) -> None: ...

class SignState(_message.Message):
    __slots__ = ("version", "height", "round", "step", "signed_message", "locked_round", "locked_hash", "valid_round", "valid_hash")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SIGNED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    LOCKED_ROUND_FIELD_NUMBER: _ClassVar[int]
    LOCKED_HASH_FIELD_NUMBER: _ClassVar[int]
    VALID_ROUND_FIELD_NUMBER: _ClassVar[int]
    VALID_HASH_FIELD_NUMBER: _ClassVar[int]
    version: int
    height: int
    round: int
    step: int
    signed_message: bytes
    locked_round: int
    locked_hash: bytes
    valid_round: int
    valid_hash: bytes
    def __init__(self, version: _Optional[int] = ..., height: _Optional[int] = ..., round: _Optional[int] = ..., step: _Optional[int] = ..., signed_message: _Optional[bytes] = ..., locked_round: _Optional[int] = ..., locked_hash: _Optional[bytes] = ..., valid_round: _Optional[int] = ..., valid_hash: _Optional[bytes] = ...) -> None: ...

class WalProposal(_message.Message):
    __slots__ = ("signed_proposal", "block_hash")
    SIGNED_PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    signed_proposal: bytes
    block_hash: bytes
    def __init__(self, signed_proposal: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class WalTimeout(_message.Message):
    __slots__ = ("height", "round", "step")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    height: int
    round: int
    step: int
    def __init__(self, height: _Optional[int] = ..., round: _Optional[int] = ..., step: _Optional[int] = ...) -> None: ...

class WalValidation(_message.Message):
    __slots__ = ("block_hash", "valid")
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    VALID_FIELD_NUMBER: _ClassVar[int]
    block_hash: bytes
    valid: bool
    def __init__(self, block_hash: _Optional[bytes] = ..., valid: _Optional[bool] = ...) -> None: ...

class WalBlockBuilt(_message.Message):
    __slots__ = ("height", "round", "block_hash")
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ROUND_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    height: int
    round: int
    block_hash: bytes
    def __init__(self, height: _Optional[int] = ..., round: _Optional[int] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class WalCommit(_message.Message):
    __slots__ = ("certificate", "block_hash")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    certificate: bytes
    block_hash: bytes
    def __init__(self, certificate: _Optional[bytes] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class WalOwnMessage(_message.Message):
    __slots__ = ("signed_message", "is_proposal", "block_hash")
    SIGNED_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    IS_PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    BLOCK_HASH_FIELD_NUMBER: _ClassVar[int]
    signed_message: bytes
    is_proposal: bool
    block_hash: bytes
    def __init__(self, signed_message: _Optional[bytes] = ..., is_proposal: _Optional[bool] = ..., block_hash: _Optional[bytes] = ...) -> None: ...

class WalEndHeight(_message.Message):
    __slots__ = ("height",)
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    height: int
    def __init__(self, height: _Optional[int] = ...) -> None: ...

class WalRecord(_message.Message):
    __slots__ = ("proposal", "vote", "timeout", "validation", "block_built", "commit", "own_message", "end_height")
    PROPOSAL_FIELD_NUMBER: _ClassVar[int]
    VOTE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    VALIDATION_FIELD_NUMBER: _ClassVar[int]
    BLOCK_BUILT_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    OWN_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    END_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    proposal: WalProposal
    vote: bytes
    timeout: WalTimeout
    validation: WalValidation
    block_built: WalBlockBuilt
    commit: WalCommit
    own_message: WalOwnMessage
    end_height: WalEndHeight
    def __init__(self, proposal: _Optional[_Union[WalProposal, _Mapping]] = ..., vote: _Optional[bytes] = ..., timeout: _Optional[_Union[WalTimeout, _Mapping]] = ..., validation: _Optional[_Union[WalValidation, _Mapping]] = ..., block_built: _Optional[_Union[WalBlockBuilt, _Mapping]] = ..., commit: _Optional[_Union[WalCommit, _Mapping]] = ..., own_message: _Optional[_Union[WalOwnMessage, _Mapping]] = ..., end_height: _Optional[_Union[WalEndHeight, _Mapping]] = ...) -> None: ...
