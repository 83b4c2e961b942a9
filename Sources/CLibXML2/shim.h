// libxml2 is built with ICU, and its encoding.h would pull ICU's headers in, which clash with the ICU
// Foundation carries. Nothing here touches the ICU fields (they sit behind pointers), so leave them out.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/SAX2.h>
