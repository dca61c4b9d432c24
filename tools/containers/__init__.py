"""Containers built and run on this machine: the engine (podman with the Docker API), the local
images (debootstrap'd Debian, Kafka, PostgreSQL, the project) and the compose stack through the
local override. deploy/local/README.md tells how to use them."""
