package github

// APIError exposes apiError to the tests.
var APIError = apiError
