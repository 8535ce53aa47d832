// tests/integration/rj.h: RapidJSON for the integration tests, with RAPIDJSON_ASSERT
// throwing instead of aborting, so a test that indexes a field the server forgot fails
// that one test (gtest reports the exception) instead of killing the whole binary.
// Every integration file includes this before any other RapidJSON header.
#pragma once

#include <stdexcept>

#ifndef RAPIDJSON_ASSERT
#define RAPIDJSON_ASSERT(x) \
  ((x) ? (void)0 : throw std::logic_error("RapidJSON assertion failed (missing field or wrong type?): " #x))
#endif
#define RAPIDJSON_HAS_STDSTRING 1

#include <rapidjson/document.h>
