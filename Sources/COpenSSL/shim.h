#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <string.h>

// ucp devsim's TLS: a fresh P-256 key and a self-signed certificate for localhost / 127.0.0.1 / ::1
// (marked CA so a client can use the PEM as its CA file), and a server context holding both.
// The certificate's PEM goes into `pem` (NUL-terminated). Returns NULL on any failure.
static inline int ucp_add_extension(X509 *cert, int nid, const char *value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, cert, cert, NULL, NULL, 0);
    X509_EXTENSION *extension = X509V3_EXT_conf_nid(NULL, &context, nid, value);
    if (extension == NULL) return 0;
    int added = X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
    return added;
}

static inline SSL_CTX *ucp_self_signed_server_context(char *pem, size_t pemCapacity) {
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    SSL_CTX *context = NULL;
    BIO *bio = NULL;
    EVP_PKEY_CTX *keyContext = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    if (keyContext == NULL || EVP_PKEY_keygen_init(keyContext) <= 0
        || EVP_PKEY_CTX_set_ec_paramgen_curve_nid(keyContext, NID_X9_62_prime256v1) <= 0
        || EVP_PKEY_keygen(keyContext, &key) <= 0) goto fail;
    cert = X509_new();
    if (cert == NULL) goto fail;
    X509_set_version(cert, 2);
    unsigned char serial[16];
    if (RAND_bytes(serial, sizeof serial) != 1) goto fail;
    serial[0] &= 0x7f;
    BIGNUM *serialNumber = BN_bin2bn(serial, sizeof serial, NULL);
    BN_to_ASN1_INTEGER(serialNumber, X509_get_serialNumber(cert));
    BN_free(serialNumber);
    X509_gmtime_adj(X509_getm_notBefore(cert), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(cert), 86400L * 365);
    X509_NAME *name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"UCProvision devsim", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    if (!ucp_add_extension(cert, NID_basic_constraints, "critical,CA:TRUE")
        || !ucp_add_extension(cert, NID_key_usage, "critical,digitalSignature,keyCertSign")
        || !ucp_add_extension(cert, NID_ext_key_usage, "serverAuth")
        || !ucp_add_extension(cert, NID_subject_key_identifier, "hash")
        || !ucp_add_extension(cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1")) goto fail;
    if (X509_sign(cert, key, EVP_sha256()) <= 0) goto fail;
    context = SSL_CTX_new(TLS_server_method());
    if (context == NULL || SSL_CTX_use_certificate(context, cert) != 1
        || SSL_CTX_use_PrivateKey(context, key) != 1) goto fail;
    SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
    bio = BIO_new(BIO_s_mem());
    if (bio == NULL || PEM_write_bio_X509(bio, cert) != 1) goto fail;
    char *data = NULL;
    long length = BIO_get_mem_data(bio, &data);
    if (length <= 0 || (size_t)length >= pemCapacity) goto fail;
    memcpy(pem, data, (size_t)length);
    pem[length] = 0;
    BIO_free(bio);
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(keyContext);
    return context;
fail:
    if (bio) BIO_free(bio);
    if (context) SSL_CTX_free(context);
    if (cert) X509_free(cert);
    if (key) EVP_PKEY_free(key);
    if (keyContext) EVP_PKEY_CTX_free(keyContext);
    return NULL;
}
