"""The only package that touches sockets and readiness polling (epoll, or `selectors` elsewhere)."""
