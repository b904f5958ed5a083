// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

/// ERC-4626-shaped wrapper for tests: `asset()` names the underlying token, `convertToAssets` applies a
/// rate the test sets (numerator / denominator, e.g. 5 / 4 = 1.25 underlying per wrapper share). Only what
/// the bot reads: symbol, decimals, asset, convertToAssets.
contract TestVault {
    string public name;
    string public symbol;
    uint8 public decimals;
    address public asset;
    uint256 public rateNumerator;
    uint256 public rateDenominator;

    constructor(string memory symbol_, uint8 decimals_, address asset_, uint256 numerator, uint256 denominator) {
        name = symbol_;
        symbol = symbol_;
        decimals = decimals_;
        asset = asset_;
        setRate(numerator, denominator);
    }

    function setRate(uint256 numerator, uint256 denominator) public {
        require(denominator != 0, "zero denominator");
        rateNumerator = numerator;
        rateDenominator = denominator;
    }

    function convertToAssets(uint256 shares) external view returns (uint256) {
        return (shares * rateNumerator) / rateDenominator;
    }
}

/// Hostile wrapper: a vault by `asset()`, but `convertToAssets` always reverts.
contract RevertingRateVault {
    string public symbol;
    uint8 public decimals;
    address public asset;

    constructor(string memory symbol_, uint8 decimals_, address asset_) {
        symbol = symbol_;
        decimals = decimals_;
        asset = asset_;
    }

    function convertToAssets(uint256) external pure returns (uint256) {
        revert("no rate for you");
    }
}
