"""The shared case core: service items, cases, the state machine, the working-day clock, materials, licences, audit.

Nothing here imports ``mobile_api``, ``bot``, ``knowledge_base``, ``ocr`` or ``notifiers``; they depend on us.
"""
