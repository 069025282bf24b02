"""The live feed `GET /ws`: notifications, job events and worker heartbeats over a websocket.

protocol (messages and close codes), auth (who is connecting), outbox (a socket's bounded send
queue), subscriber (one socket's user and subscription), owners (whose job an event is), workers
(heartbeats as up/down messages), hub (one Redis reader per process, fanned out), handler (the
route).
"""
