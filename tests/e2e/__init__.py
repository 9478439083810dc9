"""End-to-end tests: the test project under real uvicorn, hypercorn, daphne and granian servers."""
