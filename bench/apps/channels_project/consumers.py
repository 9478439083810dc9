"""The Channels consumers: an echo and a group member, as the Channels tutorial writes them."""

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)


class GroupConsumer(AsyncWebsocketConsumer):
    groups = ["bench"]  # joined by websocket_connect, before connect() accepts

    async def receive(self, text_data=None, bytes_data=None):
        if text_data and text_data.startswith("broadcast"):
            await self.channel_layer.group_send(
                "bench", {"type": "bench.message", "text": text_data}
            )

    async def bench_message(self, event):
        await self.send(text_data=event["text"])
