/* Layout assertions live in the headers; this file gives the C target an object file. */
#include "CShmSync.h"
