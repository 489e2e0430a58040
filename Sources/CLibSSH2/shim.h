#ifndef CLOUDC_CLIBSSH2_SHIM_H
#define CLOUDC_CLIBSSH2_SHIM_H

#include <libssh2.h>
#include <libssh2_sftp.h>

/* Only what Swift cannot import: function-like macros. Every call with a C string
   length is made from Swift with an explicit `.utf8.count`, through the `_ex` function. */

static inline LIBSSH2_SESSION *cloudc_libssh2_session_init(void) {
    return libssh2_session_init();
}

static inline LIBSSH2_CHANNEL *cloudc_libssh2_channel_open_session(LIBSSH2_SESSION *session) {
    return libssh2_channel_open_session(session);
}

#endif
