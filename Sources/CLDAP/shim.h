#define LDAP_DEPRECATED 0
#include <ldap.h>
#include <lber.h>

// Macros defined with casts are not imported into Swift; these constants carry their values.
static const int ucp_ldap_scope_base = LDAP_SCOPE_BASE;
static const int ucp_ldap_scope_onelevel = LDAP_SCOPE_ONELEVEL;
static const int ucp_ldap_scope_subtree = LDAP_SCOPE_SUBTREE;
static const int ucp_ldap_res_search_entry = LDAP_RES_SEARCH_ENTRY;
static const int ucp_ldap_res_search_reference = LDAP_RES_SEARCH_REFERENCE;
static const int ucp_ldap_res_search_result = LDAP_RES_SEARCH_RESULT;
