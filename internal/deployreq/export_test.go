package deployreq

// RequestFields exposes the request-field map to the tests.
var RequestFields = requestFields
