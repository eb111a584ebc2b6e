"""RabbitMQ topology, broker construction and the consumer that keeps delivery guarantees."""
