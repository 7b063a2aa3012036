/* The layout assertions live in the header; this file gives the C target an object file. */
#include "CBatchCore.h"
