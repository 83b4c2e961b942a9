// libxml2 is built with ICU, and its encoding.h would pull ICU's headers in, which clash with the ICU
// Foundation carries. Nothing here touches the ICU fields (they sit behind pointers), so leave them out.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/SAX2.h>

// Errors raised outside a parser context (an input encoding that fails to convert) go to libxml2's
// generic handler, which prints to stderr: log lines there would break one-object-per-line logs, and the
// parse still fails with its own error. The handler is per thread, so it is set before each chunk.
static void ucp_xml_ignore_generic_error(void *context, const char *message, ...) {
    (void)context;
    (void)message;
}

static inline void ucp_xml_silence_generic_errors(void) {
    xmlSetGenericErrorFunc(NULL, ucp_xml_ignore_generic_error);
}
