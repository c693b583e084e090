#!/usr/bin/env python3
"""Prints every record of the given topics, decoded with Confluent's own
Avro deserializer (independent of binlake): key, headers and value."""
import argparse
import os

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("topics", nargs="+")
    parser.add_argument("--brokers", default=os.environ.get("BINLAKE_TEST_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--registry", default=os.environ.get("BINLAKE_TEST_REGISTRY", "http://127.0.0.1:8081"))
    args = parser.parse_args()
    decode = AvroDeserializer(SchemaRegistryClient({"url": args.registry}))
    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": "binlake-topic-dump",
                         "enable.auto.commit": False})
    for topic in args.topics:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            consumer.assign([TopicPartition(topic, p, low)])
            while low < high:
                msg = consumer.poll(10)
                if msg is None:
                    break
                if msg.error():
                    raise SystemExit(f"{topic}[{p}]: {msg.error()}")
                low = msg.offset() + 1
                key = decode(msg.key(), SerializationContext(topic, MessageField.KEY)) if msg.key() else None
                value = decode(msg.value(), SerializationContext(topic, MessageField.VALUE)) if msg.value() else None
                print(f"{topic}[{p}]@{msg.offset()} key={key} headers={dict(msg.headers() or [])}")
                print(f"    {value}")
    consumer.close()


if __name__ == "__main__":
    main()
