// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

/// Stand-in for a Raindex V5/V6 book's inventory read: `vaultBalance2(owner, token, vaultId)` answers the
/// rain Float (bytes32) the test stored — made by Rain's own Float library (npm rainlanguage/float), never by arbtui.
/// It has no `vaultBalance` (V4's read), as the real V5/V6 books.
contract VaultBalanceV6StandIn {
    mapping(address => mapping(address => mapping(bytes32 => bytes32))) private balances;

    function setVaultBalance2(address owner, address token, bytes32 vaultId, bytes32 balance) external {
        balances[owner][token][vaultId] = balance;
    }

    function vaultBalance2(address owner, address token, bytes32 vaultId) external view returns (bytes32) {
        return balances[owner][token][vaultId];
    }
}
