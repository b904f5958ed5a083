// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

// The older interface form: SignedContextV1.context as bytes32[] — TakeOrderV2 then hashes to
// 0xdb6a7f7c…9353 instead of 0x10de99b9…0275. Same word layout, so the same decoder applies.
struct EvaluableV3B {
    address interpreter;
    address store;
    bytes bytecode;
}

struct IOB {
    address token;
    uint8 decimals;
    uint256 vaultId;
}

struct OrderV3B {
    address owner;
    EvaluableV3B evaluable;
    IOB[] validInputs;
    IOB[] validOutputs;
    bytes32 nonce;
}

struct SignedContextV1B {
    address signer;
    bytes32[] context;
    bytes signature;
}

struct TakeOrderConfigV3B {
    OrderV3B order;
    uint256 inputIOIndex;
    uint256 outputIOIndex;
    SignedContextV1B[] signedContext;
}

contract TakeOrderBytes32Emitter {
    event TakeOrderV2(address sender, TakeOrderConfigV3B config, uint256 input, uint256 output);

    function takeOrders(
        TakeOrderConfigV3B[] calldata configs,
        uint256[] calldata inputs,
        uint256[] calldata outputs
    ) external {
        for (uint256 i = 0; i < configs.length; i++) {
            emit TakeOrderV2(msg.sender, configs[i], inputs[i], outputs[i]);
        }
    }
}
