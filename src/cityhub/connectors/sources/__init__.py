"""Where feeds come from: file drops, HTTP (paginators), SQL databases, Kafka.
A source yields *units*, each landed as one batch with the state that marks it taken."""
