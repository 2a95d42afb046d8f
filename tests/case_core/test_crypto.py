"""SM4 field encryption and HMAC-SM3 blind indexes, held to the pure-Python gmssl implementation.

CBC carries no authentication tag, so tamper detection is not promised and not tested here.
"""

from __future__ import annotations

import base64

import pytest
from gmssl import func, sm3
from gmssl.sm4 import SM4_DECRYPT, SM4_ENCRYPT, CryptSM4

from case_core import crypto
from case_core.crypto import PREFIX, FieldCipher, constant_time_equal, sha256_hex

SECRET = "test-secret-不要用于生产"
TEXTS = [
    "张三",
    "",
    "110101199003071233",
    "广东省广州市天河区体育西路1号 3栋 1201房",
    "a" * 15,
    "b" * 16,  # exactly one block: PKCS#7 adds a whole block
    "长" * 1000,
    "🙂 emoji and ñ",
]


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(SECRET)


def split(token: str) -> tuple[bytes, bytes]:
    assert token.startswith(PREFIX)
    raw = base64.b64decode(token[len(PREFIX) :])
    return raw[:16], raw[16:]


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip(cipher, text):
    assert cipher.decrypt(cipher.encrypt(text)) == text


@pytest.mark.parametrize("text", TEXTS)
def test_token_is_prefix_iv_and_padded_blocks(cipher, text):
    iv, body = split(cipher.encrypt(text))
    assert len(iv) == 16
    assert len(body) == (len(text.encode()) // 16 + 1) * 16


def test_another_instance_with_same_secret_decrypts(cipher):
    assert FieldCipher(SECRET).decrypt(cipher.encrypt("13800138000")) == "13800138000"


def test_json_round_trip(cipher):
    value = {"姓名": "张三", "materials": ["id_card", "photo"], "count": 2, "ratio": 0.5, "ok": True, "none": None}
    token = cipher.encrypt_json(value)
    assert cipher.decrypt_json(token) == value
    assert cipher.decrypt(token).startswith('{"姓名":"张三","materials":')  # compact, Chinese kept as is


def test_random_iv_makes_each_encryption_different(cipher):
    first, second = cipher.encrypt("张三"), cipher.encrypt("张三")
    assert first != second
    assert split(first)[0] != split(second)[0]
    assert cipher.decrypt(first) == cipher.decrypt(second) == "张三"


@pytest.mark.parametrize("text", ["张三", "110101199003071233", "广东省广州市天河区体育西路1号"])
def test_wrong_key_does_not_decrypt(monkeypatch, cipher, text):
    monkeypatch.setattr(crypto.os, "urandom", lambda n: bytes(range(n)))  # fixed IV: a deterministic test
    token = cipher.encrypt(text)
    monkeypatch.undo()
    with pytest.raises(ValueError):
        FieldCipher("another-secret").decrypt(token)


def test_different_secrets_derive_different_keys(cipher):
    other = FieldCipher("another-secret")
    assert other._key != cipher._key and other._index_key != cipher._index_key
    assert cipher._key != cipher._index_key[:16]  # one secret, independent keys per purpose


@pytest.mark.parametrize("token", ["张三", "aes:AAAA", "SM4:" + base64.b64encode(bytes(32)).decode()])
def test_non_sm4_token_refused(cipher, token):
    with pytest.raises(ValueError, match="not an SM4 token"):
        cipher.decrypt(token)


def test_empty_secret_refused():
    with pytest.raises(ValueError, match="secret is required"):
        FieldCipher("")


# ---------------------------------------------------------------------------------------------------- gmssl interop
def gmssl_sm4(mode: int, key: bytes) -> CryptSM4:
    sm4 = CryptSM4()
    sm4.set_key(key, mode)
    return sm4


@pytest.mark.parametrize("text", TEXTS)
def test_gmssl_decrypts_field_cipher_token(cipher, text):
    iv, body = split(cipher.encrypt(text))
    assert gmssl_sm4(SM4_DECRYPT, cipher._key).crypt_cbc(iv, body).decode() == text


@pytest.mark.parametrize("text", TEXTS)
def test_field_cipher_decrypts_gmssl_token(cipher, text):
    iv = bytes.fromhex("00112233445566778899aabbccddeeff")
    body = gmssl_sm4(SM4_ENCRYPT, cipher._key).crypt_cbc(iv, text.encode())
    assert cipher.decrypt(PREFIX + base64.b64encode(iv + body).decode()) == text


def test_same_iv_gives_same_ciphertext_in_both_implementations(monkeypatch, cipher):
    iv = bytes(range(16))
    monkeypatch.setattr(crypto.os, "urandom", lambda n: iv)
    ours = split(cipher.encrypt("广东省广州市天河区"))[1]
    assert ours == gmssl_sm4(SM4_ENCRYPT, cipher._key).crypt_cbc(iv, "广东省广州市天河区".encode())


def test_key_is_sm3_derivation_of_the_secret(cipher):
    digest = sm3.sm3_hash(func.bytes_to_list(f"weijian:sm4:{SECRET}".encode()))
    assert cipher._key == bytes.fromhex(digest)[:16]


@pytest.mark.parametrize("data", [b"", b"abc", "卫生健康委员会".encode(), bytes(range(256)) * 4])
def test_sm3_matches_gmssl(data):
    assert crypto.sm3(data).hex() == sm3.sm3_hash(func.bytes_to_list(data))


def test_sm3_standard_vector():
    # GB/T 32905-2016, example 1
    assert crypto.sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


# ---------------------------------------------------------------------------------------------------- blind index
def test_blind_index_is_deterministic_across_instances(cipher):
    assert cipher.blind_index("110101199003071233") == FieldCipher(SECRET).blind_index("110101199003071233")


@pytest.mark.parametrize("variant", ["44010619851203002x", " 44010619851203002X ", "\t44010619851203002x\n"])
def test_blind_index_ignores_case_and_surrounding_space(cipher, variant):
    assert cipher.blind_index(variant) == cipher.blind_index("44010619851203002X")


def test_blind_index_is_64_hex_chars(cipher):
    value = cipher.blind_index("13800138000")
    assert len(value) == 64 and int(value, 16) >= 0


@pytest.mark.parametrize(("a", "b"), [("13800138000", "13800138001"), ("张三", "张四"), ("", " x")])
def test_blind_index_distinguishes_values(cipher, a, b):
    assert cipher.blind_index(a) != cipher.blind_index(b)


def test_blind_index_depends_on_secret(cipher):
    assert cipher.blind_index("13800138000") != FieldCipher("another-secret").blind_index("13800138000")


def test_blind_index_is_not_the_plain_hash(cipher):
    assert cipher.blind_index("13800138000") != crypto.sm3(b"13800138000").hex()


# ---------------------------------------------------------------------------------------------------- helpers
@pytest.mark.parametrize(
    ("a", "b", "equal"), [("abc", "abc", True), ("abc", "abd", False), ("abc", "ab", False), ("令牌", "令牌", True)]
)
def test_constant_time_equal(a, b, equal):
    assert constant_time_equal(a, b) is equal


def test_sha256_hex():
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
