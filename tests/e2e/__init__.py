"""End-to-end tests: the test project under real uvicorn, hypercorn and daphne servers."""
