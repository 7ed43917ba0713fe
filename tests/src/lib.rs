//! Autobahn-style conformance runner (not built yet: see the tests issue).
