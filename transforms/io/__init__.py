"""Reading and writing: files, Kafka topics, Avro files and messages, consumer offsets."""
