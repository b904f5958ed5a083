// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

// Brings Pyth's own MockPyth into the build, plus a proxy shaped like the real Pyth deployment
// (the configured address delegates to an implementation: the trace shows CALL + nested DELEGATECALL).
import "@pythnetwork/pyth-sdk-solidity/MockPyth.sol";

contract DelegatingProxy {
    address private immutable implementation;

    constructor(address implementation_) {
        implementation = implementation_;
    }

    fallback() external payable {
        address impl = implementation;
        assembly {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), impl, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            switch ok
            case 0 { revert(0, returndatasize()) }
            default { return(0, returndatasize()) }
        }
    }
}
